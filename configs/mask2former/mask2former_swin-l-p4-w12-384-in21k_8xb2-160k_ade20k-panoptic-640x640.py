# Mask2Former Swin-L (IN-21k, 200 queries), ADE20K panoptic, 160k iters.
# Reference model zoo: PQ 48.1, mask AP 34.2, mIoU 54.5.
_base_ = ['./mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco-panoptic.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=_base_.ade20k_data_preprocessor,
             panoptic_head=dict(_base_.ade20k_panoptic_head))
train_dataloader = _base_.ade20k_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.ade20k_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.ade20k_panoptic_evaluator
train_cfg = _base_.ade20k_schedule.train_cfg
param_scheduler = _base_.ade20k_schedule.param_scheduler
