# Mask2Former R50, COCO instance segmentation, 50 epochs: mask AP 43.7 (reference model zoo).
# mmdet's instance recipe with m2f_mm's head.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py',
    '../_base_/mask2former_heads.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    _base_.coco_instance_model,
    panoptic_head=dict(_base_.coco_instance_head, in_channels=_base_.backbone_channels.resnet))
