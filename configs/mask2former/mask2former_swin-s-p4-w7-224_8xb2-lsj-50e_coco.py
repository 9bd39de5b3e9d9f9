# Mask2Former Swin-S, COCO instance segmentation, 50 epochs: mask AP 46.3 (reference model zoo).
_base_ = [
    'mmdet::mask2former/mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco.py',
    '../_base_/mask2former_heads.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    _base_.coco_instance_model,
    panoptic_head=dict(_base_.coco_instance_head, in_channels=_base_.backbone_channels.swin_s))
