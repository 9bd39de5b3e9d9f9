# Mask2Former R50, COCO instance segmentation (mask AP 43.7 in the reference model zoo).
# mmdet's instance recipe with m2f_mm's head.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
    '../_base_/mask2former_head_r50.py',
]
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)

num_things_classes = 80
model = dict(
    type='m2f_mm.Mask2FormerDetector',
    panoptic_head=dict(
        _delete_=True,
        type='m2f_mm.Mask2FormerDetHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=0,
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
        num_stuff_classes=0),
    train_cfg=None,
    test_cfg=dict(
        _delete_=True,
        panoptic_on=False, semantic_on=False, instance_on=True, max_per_image=100))
