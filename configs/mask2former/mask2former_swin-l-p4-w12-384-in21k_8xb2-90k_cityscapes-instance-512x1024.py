# Mask2Former Swin-L (IN-21k, 200 queries), Cityscapes instance, 90k iters.
# Reference model zoo: AP 43.7, AP50 71.4 (the official Cityscapes AP;
# the default evaluator is COCO-style mask AP, see ../_base_/paper_datasets.py).
_base_ = ['./mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=_base_.cityscapes_data_preprocessor,
             panoptic_head=dict(_base_.cityscapes_instance_head))
train_dataloader = _base_.cityscapes_instance_train_dataloader
val_dataloader = test_dataloader = _base_.cityscapes_instance_test_dataloader
val_evaluator = test_evaluator = _base_.cityscapes_instance_evaluator
train_cfg = _base_.cityscapes_schedule.train_cfg
param_scheduler = _base_.cityscapes_schedule.param_scheduler
