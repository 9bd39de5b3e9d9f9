# Mask2Former R50, Cityscapes panoptic, 90k iters.
# Reference model zoo: PQ 62.1, AP 37.3, mIoU 77.5.
_base_ = ['./mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
          '../_base_/paper_datasets.py']
# The reference trains this ResNet's SyncBN on Cityscapes; BN gets the backbone's lr and
# no weight decay.
model = dict(backbone=_base_.sync_bn_backbone,
             data_preprocessor=_base_.cityscapes_data_preprocessor,
             panoptic_head=dict(_base_.cityscapes_panoptic_head))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.resnet_norm_keys))
train_dataloader = _base_.cityscapes_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.cityscapes_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.cityscapes_panoptic_evaluator
train_cfg = _base_.cityscapes_schedule.train_cfg
param_scheduler = _base_.cityscapes_schedule.param_scheduler
