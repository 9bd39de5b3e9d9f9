# Mask2Former Swin-B (IN-21k), Cityscapes panoptic, 90k iters.
# Reference model zoo: PQ 66.1, AP 42.8, mIoU 82.7.
_base_ = ['./mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco-panoptic.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=_base_.cityscapes_data_preprocessor,
             panoptic_head=dict(_base_.cityscapes_panoptic_head))
train_dataloader = _base_.cityscapes_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.cityscapes_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.cityscapes_panoptic_evaluator
train_cfg = _base_.cityscapes_schedule.train_cfg
param_scheduler = _base_.cityscapes_schedule.param_scheduler
