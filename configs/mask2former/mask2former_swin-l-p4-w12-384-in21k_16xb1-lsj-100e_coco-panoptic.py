# Mask2Former Swin-L (IN-21k), COCO panoptic, 100 epochs: PQ 57.8 (reference model zoo).
_base_ = [
    'mmdet::mask2former/mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco-panoptic.py',
    '../_base_/mask2former_heads.py', '../_base_/coco_panoptic_data.py']
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
# Our head replaces the host's head config, its 200 queries included.
model = dict(
    _base_.coco_panoptic_model,
    panoptic_head=dict(_base_.coco_panoptic_head, in_channels=_base_.backbone_channels.swin_l,
                       num_queries=200))
train_dataloader = _base_.coco_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.coco_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.coco_panoptic_evaluator
