# Mask2Former Swin-T, ADE20K semantic, 160k iters: mIoU 47.7 (reference model zoo).
_base_ = [
    'mmseg::mask2former/mask2former_swin-t_8xb2-160k_ade20k-512x512.py',
    '../_base_/mask2former_heads.py', '../_base_/seg_tta.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    decode_head=dict(_base_.ade20k_decode_head, in_channels=_base_.backbone_channels.swin_t))
# Multi-scale + flip test (tools/test.py --tta) at this config's test scale.
tta_model = _base_.seg_tta_model
tta_pipeline = _base_.seg_tta_pipelines.ade20k_512
