# Mask2Former R50, ADE20K semantic, 160k iters: mIoU 47.2 (reference model zoo).
# mmseg's recipe with m2f_mm's head inside mmseg's stock EncoderDecoder.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
    '../_base_/mask2former_heads.py', '../_base_/seg_tta.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
# The reference freezes this ResNet's BN; mmseg's config updates its statistics.
model = dict(
    backbone=_base_.frozen_bn_backbone,
    decode_head=dict(_base_.ade20k_decode_head, in_channels=_base_.backbone_channels.resnet))
# Multi-scale + flip test (tools/test.py --tta) at this config's test scale.
tta_model = _base_.seg_tta_model
tta_pipeline = _base_.seg_tta_pipelines.ade20k_512
