# Mask2Former Swin-B (IN-1k), COCO instance segmentation, 50 epochs: mask AP 46.7 (reference
# model zoo). mmdet ships no such config: our Swin-S one (its depths and optimiser keys) with
# the Swin-B backbone of mmdet's Swin-B panoptic config.
_base_ = ['./mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco.py']
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_base_patch4_window12_384.pth'  # noqa
model = dict(
    backbone=dict(pretrain_img_size=384, embed_dims=128, num_heads=[4, 8, 16, 32], window_size=12,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(in_channels=_base_.backbone_channels.swin_b))
