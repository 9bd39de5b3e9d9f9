# Mask2Former R50, COCO panoptic, 50 epochs of large-scale jitter (PQ 51.9 in the paper).
# mmdet's recipe (data, schedule, optimizer) with m2f_mm's head; one model reports
# PQ, mask AP and mIoU.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
    '../_base_/mask2former_head_r50.py',
]
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)

num_things_classes = 80
num_stuff_classes = 53
model = dict(
    type='m2f_mm.Mask2FormerDetector',
    panoptic_head=dict(
        _delete_=True,
        type='m2f_mm.Mask2FormerDetHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=100,
        pixel_decoder={{_base_.m2f_pixel_decoder}},
        transformer_decoder={{_base_.m2f_transformer_decoder}},
        criterion={{_base_.m2f_criterion}},
        in_channels=[256, 512, 1024, 2048],
        strides=[4, 8, 16, 32]),
    panoptic_fusion_head=dict(
        _delete_=True,
        type='m2f_mm.Mask2FormerFusionHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    # Matching and point sampling live in panoptic_head.criterion.
    train_cfg=None,
    test_cfg=dict(
        _delete_=True,
        panoptic_on=True, semantic_on=True, instance_on=True, max_per_image=100,
        object_mask_thr=0.8, iou_thr=0.8, filter_low_score=True))
