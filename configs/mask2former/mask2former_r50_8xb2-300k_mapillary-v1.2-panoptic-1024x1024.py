# Mask2Former R50, Mapillary Vistas v1.2 panoptic, 300k iters.
# Reference model zoo: PQ 36.3, mIoU 50.7.
_base_ = ['./mask2former_r50_8xb2-lsj-50e_coco-panoptic.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=_base_.mapillary_data_preprocessor,
             panoptic_head=dict(_base_.mapillary_panoptic_head),
             test_cfg=_base_.mapillary_panoptic_test_cfg)
train_dataloader = _base_.mapillary_panoptic_train_dataloader
val_dataloader = test_dataloader = _base_.mapillary_panoptic_test_dataloader
val_evaluator = test_evaluator = _base_.mapillary_panoptic_evaluator
train_cfg = _base_.mapillary_schedule.train_cfg
param_scheduler = _base_.mapillary_schedule.param_scheduler
