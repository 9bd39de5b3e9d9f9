# Toy panoptic MaskFormer (the paper's baseline) through mmdet: the toy Mask2Former's
# backbone, widths and schedule with MaskFormer's head (configs/_base_/maskformer_heads.py).
_base_ = ['./mask2former_r18-half_1xb8-600it_toy-panoptic.py', '../_base_/maskformer_heads.py']
model = dict(
    panoptic_head=dict(
        pixel_decoder=_base_.maskformer_pixel_decoder,
        transformer_decoder=_base_.maskformer_transformer_decoder,
        criterion=_base_.maskformer_criterion))
