# Mask2Former Swin-B (IN-21k), Cityscapes semantic, 90k iters: mIoU 83.3 (reference model zoo).
_base_ = [
    'mmseg::mask2former/mask2former_swin-b-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024.py',
    '../_base_/mask2former_heads.py', '../_base_/seg_tta.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(
    decode_head=dict(_base_.cityscapes_decode_head, in_channels=_base_.backbone_channels.swin_b))
# Multi-scale + flip test (tools/test.py --tta) at this config's test scale.
tta_model = _base_.seg_tta_model
tta_pipeline = _base_.seg_tta_pipelines.cityscapes
