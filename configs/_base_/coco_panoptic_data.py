# m2f_mm's COCO panoptic loading and metrics (panopticapi is not installable), to assign
# over the host config's:
#     train_dataloader = _base_.coco_panoptic_train_dataloader
#     val_dataloader = test_dataloader = _base_.coco_panoptic_test_dataloader
#     val_evaluator = test_evaluator = _base_.coco_panoptic_evaluator
_coco_root = 'data/coco/'
_coco_panoptic_annotations = dict(type='m2f_mm.LoadCocoPanopticAnnotations', with_bbox=True,
                                  with_mask=True, with_seg=True)
coco_panoptic_train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    _coco_panoptic_annotations,
    dict(type='RandomFlip', prob=0.5),
    # large-scale jitter
    dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(1024, 1024), crop_type='absolute', recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='PackDetInputs'),
]
coco_panoptic_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    # Loaded after the resize: ground truth stays at the original size, like the predictions.
    _coco_panoptic_annotations,
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# m2f_mm's dataset is mmdet's, stopping on bad category ids and zero areas.
coco_panoptic_train_dataloader = dict(
    dataset=dict(type='m2f_mm.CocoPanopticDataset', pipeline=coco_panoptic_train_pipeline))
coco_panoptic_test_dataloader = dict(
    dataset=dict(type='m2f_mm.CocoPanopticDataset', pipeline=coco_panoptic_test_pipeline))
# PQ (All/Things/Stuff), mask AP and mIoU from the one model, as in the paper.
coco_panoptic_evaluator = [
    dict(type='m2f_mm.CocoPanopticPQMetric',
         ann_file=_coco_root + 'annotations/panoptic_val2017.json',
         seg_prefix=_coco_root + 'annotations/panoptic_val2017/'),
    dict(type='CocoMetric', ann_file=_coco_root + 'annotations/instances_val2017.json',
         metric=['bbox', 'segm']),
    dict(type='m2f_mm.DetSemSegIoUMetric', iou_metrics=['mIoU']),
]
