# Toy panoptic Mask2Former through mmdet, for the CPU quickstart. Trains on the data of
# `python tools/generate_toy_data.py` (written under <repo>/data/toy) and reports PQ,
# mask AP and mIoU from the one model.
_base_ = ['mmdet::_base_/default_runtime.py', '../_base_/mask2former_toy.py']
default_scope = 'mmdet'

model = dict(
    type='m2f_mm.Mask2FormerDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor', pad_size_divisor=32, pad_mask=True, mask_pad_value=0,
        pad_seg=True, seg_pad_value=255, mean={{_base_.toy_mean}}, std={{_base_.toy_std}},
        bgr_to_rgb=True),
    backbone={{_base_.toy_backbone}},
    panoptic_head={{_base_.toy_det_head}},
    panoptic_fusion_head=dict(type='m2f_mm.Mask2FormerFusionHead'),
    train_cfg=None,
    test_cfg=dict(panoptic_on=True, semantic_on=True, instance_on=True))

data_root = '{{ fileDirname }}/../../data/toy/coco/'
metainfo = {{_base_.toy_panoptic_metainfo}}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='m2f_mm.LoadCocoPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='m2f_mm.LoadCocoPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                    'seg_map_path', 'segments_info')),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='m2f_mm.CocoPanopticDataset', data_root=data_root, metainfo=metainfo,
        ann_file='annotations/panoptic_train.json',
        data_prefix=dict(img='train/', seg='annotations/panoptic_train/'),
        filter_cfg=dict(filter_empty_gt=False), pipeline=train_pipeline,
        # Tiny data: no need to share it across workers, and an empty dataset then
        # reaches DataSanityHook, whose error names the config key and the files.
        serialize_data=False))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='m2f_mm.CocoPanopticDataset', data_root=data_root, metainfo=metainfo,
        ann_file='annotations/panoptic_val.json',
        data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
        test_mode=True, pipeline=test_pipeline, serialize_data=False))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='m2f_mm.CocoPanopticPQMetric', ann_file=data_root + 'annotations/panoptic_val.json',
         seg_prefix=data_root + 'annotations/panoptic_val/'),
    dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json',
         metric=['segm']),
    dict(type='m2f_mm.DetSemSegIoUMetric', iou_metrics=['mIoU']),
]
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2,
                    save_last=True))
log_processor = dict(by_epoch=False)
