# Mask2Former R50, COCO panoptic, 50 epochs of large-scale jitter (PQ 51.9 in the paper).
# mmdet's recipe (data, schedule, optimizer) with m2f_mm's head; one model reports
# PQ, mask AP and mIoU.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
          '../_base_/mask2former_r50.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)

# Matching and point sampling live in the head's criterion, hence no train_cfg.
model = dict(type='m2f_mm.Mask2FormerDetector', panoptic_head={{_base_.coco_panoptic_head}},
             panoptic_fusion_head={{_base_.fusion_head}}, train_cfg=None,
             test_cfg=dict(_delete_=True, panoptic_on=True, semantic_on=True, instance_on=True))

# panopticapi is not installable: m2f_mm's loader and PQ metric replace mmdet's.
backend_args = None
data_root = 'data/coco/'
image_size = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='m2f_mm.LoadCocoPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=backend_args),
    dict(type='RandomFlip', prob=0.5),
    # large-scale jitter
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute', recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    # Loaded after the resize: ground truth stays at the original size, like the predictions.
    dict(type='m2f_mm.LoadCocoPanopticAnnotations', with_bbox=True, with_mask=True,
         with_seg=True, backend_args=backend_args),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# m2f_mm's dataset is mmdet's, stopping on bad category ids and zero areas.
train_dataloader = dict(dataset=dict(type='m2f_mm.CocoPanopticDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='m2f_mm.CocoPanopticDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
# PQ (All/Things/Stuff), mask AP and mIoU from the one model, as in the paper.
val_evaluator = [
    dict(type='m2f_mm.CocoPanopticPQMetric',
         ann_file=data_root + 'annotations/panoptic_val2017.json',
         seg_prefix=data_root + 'annotations/panoptic_val2017/', backend_args=backend_args),
    dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json',
         metric=['bbox', 'segm'], backend_args=backend_args),
    dict(type='m2f_mm.DetSemSegIoUMetric', iou_metrics=['mIoU']),
]
test_evaluator = val_evaluator
