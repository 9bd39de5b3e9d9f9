# Mask2Former R50, Cityscapes semantic, 90k iters: mIoU 79.4 (reference model zoo).
# mmseg's recipe with m2f_mm's head inside mmseg's stock EncoderDecoder.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
    '../_base_/mask2former_heads.py', '../_base_/seg_tta.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
# The reference trains this ResNet's SyncBN (mmseg's config freezes its affine); BN gets
# the backbone's lr and no weight decay.
model = dict(
    backbone=_base_.sync_bn_backbone,
    decode_head=dict(_base_.cityscapes_decode_head, in_channels=_base_.backbone_channels.resnet))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=_base_.resnet_norm_keys))
# Multi-scale + flip test (tools/test.py --tta) at this config's test scale.
tta_model = _base_.seg_tta_model
tta_pipeline = _base_.seg_tta_pipelines.cityscapes
