# Mask2Former R50, ADE20K instance, 160k iters.
# Reference model zoo: mask AP 26.4.
_base_ = ['./mask2former_r50_8xb2-lsj-50e_coco.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=_base_.ade20k_data_preprocessor,
             panoptic_head=dict(_base_.ade20k_instance_head))
train_dataloader = _base_.ade20k_instance_train_dataloader
val_dataloader = test_dataloader = _base_.ade20k_instance_test_dataloader
val_evaluator = test_evaluator = _base_.ade20k_instance_evaluator
train_cfg = _base_.ade20k_schedule.train_cfg
param_scheduler = _base_.ade20k_schedule.param_scheduler
