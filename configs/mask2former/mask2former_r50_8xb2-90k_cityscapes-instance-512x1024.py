# Mask2Former R50, Cityscapes instance, 90k iters.
# Reference model zoo: AP 37.4, AP50 61.9 (the official Cityscapes AP;
# the default evaluator is COCO-style mask AP, see ../_base_/paper_datasets.py).
_base_ = ['./mask2former_r50_8xb2-lsj-50e_coco.py',
          '../_base_/paper_datasets.py']
# The reference trains this ResNet's SyncBN on Cityscapes; BN gets the backbone's lr and
# no weight decay.
model = dict(backbone=_base_.sync_bn_backbone,
             data_preprocessor=_base_.cityscapes_data_preprocessor,
             panoptic_head=dict(_base_.cityscapes_instance_head))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.resnet_norm_keys))
train_dataloader = _base_.cityscapes_instance_train_dataloader
val_dataloader = test_dataloader = _base_.cityscapes_instance_test_dataloader
val_evaluator = test_evaluator = _base_.cityscapes_instance_evaluator
train_cfg = _base_.cityscapes_schedule.train_cfg
param_scheduler = _base_.cityscapes_schedule.param_scheduler
