# Mask2Former R50, COCO panoptic, 50 epochs of large-scale jitter: PQ 51.9 (reference model zoo).
# mmdet's recipe (data, schedule, optimizer) with m2f_mm's head and COCO panoptic loading;
# one model reports PQ, mask AP and mIoU.
_base_ = [
    'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
    '../_base_/mask2former_heads.py', '../_base_/coco_panoptic_data.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    _base_.coco_panoptic_model,
    panoptic_head=dict(_base_.coco_panoptic_head, in_channels=_base_.backbone_channels.resnet))
train_dataloader = _base_.coco_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.coco_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.coco_panoptic_evaluator
