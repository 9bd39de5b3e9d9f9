# Mask2Former R50, Cityscapes semantic, 512x1024 crops, 90k iterations (mIoU 79.4 in the paper).
# mmseg's recipe with m2f_mm's head inside mmseg's stock EncoderDecoder.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
          '../_base_/mask2former_r50.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(decode_head={{_base_.cityscapes_decode_head}})
