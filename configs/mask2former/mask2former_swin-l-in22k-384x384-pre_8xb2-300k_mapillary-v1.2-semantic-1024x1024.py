# Mask2Former Swin-L (IN-21k), Mapillary Vistas v1.2 semantic, 300k iters.
# Reference model zoo: mIoU 63.2 (64.7 multi-scale + flip).
# Our ADE20K semantic recipe of this backbone (mmseg) on Mapillary's data.
_base_ = ['./mask2former_swin-l-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py',
          '../_base_/paper_datasets.py']
model = dict(data_preprocessor=dict(size=(1024, 1024)),
             decode_head=dict(_base_.mapillary_decode_head))
train_dataloader = _base_.mapillary_semantic_train_dataloader
val_dataloader = test_dataloader = _base_.mapillary_semantic_test_dataloader
train_cfg = _base_.mapillary_schedule.train_cfg
param_scheduler = _base_.mapillary_schedule.param_scheduler
tta_pipeline = _base_.seg_tta_pipelines.mapillary
