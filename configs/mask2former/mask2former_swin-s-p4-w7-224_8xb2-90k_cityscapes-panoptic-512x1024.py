# Mask2Former Swin-S, Cityscapes panoptic, 90k iters.
# Reference model zoo: PQ 64.8, AP 40.7, mIoU 81.8.
_base_ = ['./mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=_base_.cityscapes_data_preprocessor,
             panoptic_head=dict(_base_.cityscapes_panoptic_head))
train_dataloader = _base_.cityscapes_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.cityscapes_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.cityscapes_panoptic_evaluator
train_cfg = _base_.cityscapes_schedule.train_cfg
param_scheduler = _base_.cityscapes_schedule.param_scheduler
