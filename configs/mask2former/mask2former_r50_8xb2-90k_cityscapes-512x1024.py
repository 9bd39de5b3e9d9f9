# Mask2Former R50, Cityscapes semantic, 512x1024 crops, 90k iterations (mIoU 79.4 in the paper).
# mmseg's recipe with m2f_mm's head inside mmseg's stock EncoderDecoder.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
    '../_base_/mask2former_head_r50.py',
]
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)

num_classes = 19
model = dict(
    decode_head=dict(
        _delete_=True,
        type='m2f_mm.Mask2FormerDecodeHead',
        num_classes=num_classes,
        num_queries=100,
        align_corners=False,
        pixel_decoder={{_base_.m2f_pixel_decoder}},
        transformer_decoder={{_base_.m2f_transformer_decoder}},
        criterion={{_base_.m2f_criterion}},
        in_channels=[256, 512, 1024, 2048],
        strides=[4, 8, 16, 32]))
