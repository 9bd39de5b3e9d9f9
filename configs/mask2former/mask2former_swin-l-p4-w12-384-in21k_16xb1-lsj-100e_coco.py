# Mask2Former Swin-L (IN-21k), COCO instance segmentation, 100 epochs: mask AP 50.1 (reference
# model zoo). The Swin-B config with the backbone, 200 queries and 100-epoch schedule of
# mmdet's Swin-L panoptic config.
_base_ = ['./mask2former_swin-b-p4-w12-384_8xb2-lsj-50e_coco.py']
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth'  # noqa
model = dict(
    backbone=dict(embed_dims=192, num_heads=[6, 12, 24, 48],
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(in_channels=_base_.backbone_channels.swin_l, num_queries=200))
train_dataloader = dict(batch_size=1)  # on 16 GPUs: batch 16 as everywhere else

max_iters = 737500
param_scheduler = dict(end=max_iters, milestones=[655556, 710184])
# Evaluates every 5000 iterations and once more at the end.
train_cfg = dict(max_iters=max_iters, dynamic_intervals=[(max_iters // 5000 * 5000 + 1, max_iters)])
