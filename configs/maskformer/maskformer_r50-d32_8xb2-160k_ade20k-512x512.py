# MaskFormer R50, ADE20K semantic, 160k iterations (MaskFormer paper: mIoU 44.5, 41M
# parameters), with the plain FPN pixel decoder as the paper's ADE20K models.
# mmseg's MaskFormer recipe with m2f_mm's head in MaskFormer's settings. MaskFormer's FPN
# model fed the raw res5 map (through a 1x1 projection) to its transformer decoder; ours
# feeds the FPN's 1/32 output, as Mask2Former's pixel-decoder ablation does.
_base_ = [
    'mmseg::maskformer/maskformer_r50-d32_8xb2-160k_ade20k-512x512.py',
    '../_base_/maskformer_heads.py']
# Replaces the host config's own imports (mmseg's MaskFormer configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        _base_.ade20k_decode_head, in_channels=_base_.backbone_channels.resnet,
        pixel_decoder=_base_.maskformer_fpn_pixel_decoder,
        transformer_decoder=_base_.maskformer_transformer_decoder,
        criterion=_base_.maskformer_criterion))
