# Toy semantic Mask2Former: m2f_mm's head as decode_head of mmseg's stock EncoderDecoder,
# for the CPU quickstart. Trains on the ADE20K-style folder written by
# `python tools/generate_toy_data.py` (under <repo>/data/toy/ade) and reports mIoU.
_base_ = ['mmseg::_base_/default_runtime.py', '../_base_/mask2former_toy.py']
default_scope = 'mmseg'

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', size_divisor=32, pad_val=0, seg_pad_val=255,
        mean={{_base_.toy_mean}}, std={{_base_.toy_std}}, bgr_to_rgb=True),
    backbone={{_base_.toy_backbone}},
    decode_head={{_base_.toy_decode_head}},
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

data_root = '{{ fileDirname }}/../../data/toy/ade/'
metainfo = {{_base_.toy_semantic_metainfo}}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# Multi-scale + flip test (tools/test.py CONFIG CKPT --tta): the native size times 0.75, 1
# and 1.25, each with and without a horizontal flip; the head's class scores are averaged.
tta_model = dict(type='m2f_mm.Mask2FormerSegTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')]]),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
               img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
               # Tiny data: no need to share it across workers, and an empty dataset
               # then reaches DataSanityHook, whose error names the key and the files.
               serialize_data=False)
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(dataset, data_prefix=dict(img_path='images/training',
                                           seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(dataset, data_prefix=dict(img_path='images/validation',
                                           seg_map_path='annotations/validation'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2,
                    save_last=True),
    # mmseg keeps this hook in its schedule bases, which this config does not use.
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=False)
