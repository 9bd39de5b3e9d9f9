# MaskFormer (Cheng et al., NeurIPS 2021), Mask2Former's baseline, built from m2f_mm's pieces:
# - pixel decoder: an FPN (1x1 lateral + GN, 3x3 output + GN + ReLU, strides 32 down to 4)
#   whose res5 level first goes through a 6-layer Transformer encoder (the paper's "+6 Enc"
#   models; FPNPixelDecoder leaves the encoder out);
# - transformer decoder: MaskedAttentionDecoder switched to the standard one: 6 layers on
#   the 1/32 features only, self-attention first, no masked attention, zero query features
#   with learnable positions, dropout 0.1, post-norm, a prediction after every layer;
# - loss: cross-entropy 1 (no object 0.1) + focal 20 + dice 1 on full masks, matched with
#   the same costs on full masks.
# Inference is Mask2Former's (mask classification). The heads of mask2former_heads.py give
# the dataset settings, e.g. dict(_base_.coco_panoptic_head, **maskformer_parts).
_base_ = ['./mask2former_heads.py']
maskformer_pixel_decoder = dict(type='m2f_mm.TransformerEncoderPixelDecoder', num_outs=1)
maskformer_fpn_pixel_decoder = dict(type='m2f_mm.FPNPixelDecoder', num_outs=1)
maskformer_transformer_decoder = dict(
    type='m2f_mm.MaskedAttentionDecoder', num_layers=6, num_feature_levels=1,
    masked_attention=False, cross_attention_first=False, learnable_query_features=False,
    dropout=0.1, initial_prediction=False)
maskformer_criterion = dict(
    type='m2f_mm.Mask2FormerCriterion', cls_loss_weight=1.0, mask_loss='focal',
    mask_loss_weight=20.0, dice_loss_weight=1.0, point_sampled=False,
    matcher=dict(point_sampled=False))
