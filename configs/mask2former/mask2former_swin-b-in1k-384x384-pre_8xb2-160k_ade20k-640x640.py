# Mask2Former Swin-B (IN-1k), ADE20K semantic, 160k iters: mIoU 52.4 (reference model zoo).
_base_ = [
    'mmseg::mask2former/mask2former_swin-b-in1k-384x384-pre_8xb2-160k_ade20k-640x640.py',
    '../_base_/mask2former_heads.py', '../_base_/seg_tta.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
# mmseg's 640 configs leave test images unpadded; the reference (like mmseg's 512
# configs) pads them to a multiple of 32.
model = dict(
    data_preprocessor=dict(test_cfg=dict(size_divisor=32)),
    decode_head=dict(_base_.ade20k_decode_head, in_channels=_base_.backbone_channels.swin_b))
# Multi-scale + flip test (tools/test.py --tta) at this config's test scale.
tta_model = _base_.seg_tta_model
tta_pipeline = _base_.seg_tta_pipelines.ade20k_640
