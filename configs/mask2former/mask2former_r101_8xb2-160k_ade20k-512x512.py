# Mask2Former R101, ADE20K semantic, 160k iters: mIoU 47.8 (reference model zoo).
# Our R50 config with ResNet-101. The reference trains this ResNet's SyncBN (its R50 freezes
# BN); BN gets the backbone's lr and no weight decay.
_base_ = ['./mask2former_r50_8xb2-160k_ade20k-512x512.py']
model = dict(backbone=dict(
    _base_.sync_bn_backbone, depth=101,
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.resnet_norm_keys))
