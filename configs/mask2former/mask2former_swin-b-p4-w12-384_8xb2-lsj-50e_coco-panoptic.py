# Mask2Former Swin-B (IN-1k), COCO panoptic, 50 epochs: PQ 55.1 (reference model zoo).
_base_ = [
    'mmdet::mask2former/mask2former_swin-b-p4-w12-384_8xb2-lsj-50e_coco-panoptic.py',
    '../_base_/mask2former_heads.py', '../_base_/coco_panoptic_data.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    _base_.coco_panoptic_model,
    panoptic_head=dict(_base_.coco_panoptic_head, in_channels=_base_.backbone_channels.swin_b))
train_dataloader = _base_.coco_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.coco_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.coco_panoptic_evaluator
