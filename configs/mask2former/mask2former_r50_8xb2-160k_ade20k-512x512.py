# Mask2Former R50, ADE20K semantic, 512x512 crops, 160k iterations (mIoU 47.2 in the paper).
# mmseg's recipe with m2f_mm's head inside mmseg's stock EncoderDecoder.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
          '../_base_/mask2former_r50.py']
# Replaces the host config's own imports (mmseg's Mask2Former configs import mmdet).
custom_imports = dict(imports=['m2f_mm'], allow_failed_imports=False)
model = dict(decode_head={{_base_.ade20k_decode_head}})
