"""Rename mmdet 3.x and mmseg 1.x Mask2Former state-dict keys to m2f_mm's module names.

mmseg's Mask2Former head is mmdet's, so one table serves both. Rule tables
follow :mod:`m2f_mm.converters.rename`.
"""
from typing import Dict

from .rename import Rules, prefixed, rename_keys

__all__ = ['PIXEL_DECODER_RULES', 'HEAD_RULES', 'pixel_decoder_key_map', 'mmdet_head_key_map',
           'mmdet_model_rules']

_ENCODER_LAYER = r'encoder\.layers\.(\d+)\.'
_OUR_ENCODER_LAYER = r'transformer.encoder.layers.\1.'
_ATTENTION = r'self_attn\.(sampling_offsets|attention_weights|value_proj|output_proj)\.'

# Keys of mmdet.models.layers.MSDeformAttnPixelDecoder.state_dict().
PIXEL_DECODER_RULES: Rules = [
    (r'input_convs\.(\d+)\.conv\.(weight|bias)', r'input_proj.\1.0.\2'),
    (r'input_convs\.(\d+)\.gn\.(weight|bias)', r'input_proj.\1.1.\2'),
    (r'level_encoding\.weight', 'transformer.level_embed'),
    (_ENCODER_LAYER + _ATTENTION + r'(weight|bias)', _OUR_ENCODER_LAYER + r'self_attn.\2.\3'),
    (_ENCODER_LAYER + r'ffn\.layers\.0\.0\.(weight|bias)', _OUR_ENCODER_LAYER + r'linear1.\2'),
    (_ENCODER_LAYER + r'ffn\.layers\.1\.(weight|bias)', _OUR_ENCODER_LAYER + r'linear2.\2'),
    (_ENCODER_LAYER + r'norms\.0\.(weight|bias)', _OUR_ENCODER_LAYER + r'norm1.\2'),
    (_ENCODER_LAYER + r'norms\.1\.(weight|bias)', _OUR_ENCODER_LAYER + r'norm2.\2'),
    (r'lateral_convs\.0\.conv\.weight', 'adapter_1.weight'),
    (r'lateral_convs\.0\.gn\.(weight|bias)', r'adapter_1.norm.\1'),
    (r'output_convs\.0\.conv\.weight', 'layer_1.weight'),
    (r'output_convs\.0\.gn\.(weight|bias)', r'layer_1.norm.\1'),
    (r'mask_feature\.(weight|bias)', r'mask_features.\1'),
]

_DECODER_LAYER = r'transformer_decoder\.layers\.(\d+)\.'
_OUR_PREDICTOR = 'predictor.'
_ATTENTION_PARAMS = r'attn\.attn\.(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)'

# Keys of mmdet.models.dense_heads.Mask2FormerHead.state_dict(): its pixel
# decoder, then the transformer decoder whose layers run cross-attention
# (norms.0), self-attention (norms.1) and FFN (norms.2).
HEAD_RULES: Rules = [
    *prefixed(PIXEL_DECODER_RULES, 'pixel_decoder.', 'pixel_decoder.'),
    (_DECODER_LAYER + r'cross_' + _ATTENTION_PARAMS,
     _OUR_PREDICTOR + r'transformer_cross_attention_layers.\1.multihead_attn.\2'),
    (_DECODER_LAYER + r'self_' + _ATTENTION_PARAMS,
     _OUR_PREDICTOR + r'transformer_self_attention_layers.\1.self_attn.\2'),
    (_DECODER_LAYER + r'norms\.0\.(weight|bias)',
     _OUR_PREDICTOR + r'transformer_cross_attention_layers.\1.norm.\2'),
    (_DECODER_LAYER + r'norms\.1\.(weight|bias)',
     _OUR_PREDICTOR + r'transformer_self_attention_layers.\1.norm.\2'),
    (_DECODER_LAYER + r'ffn\.layers\.0\.0\.(weight|bias)',
     _OUR_PREDICTOR + r'transformer_ffn_layers.\1.linear1.\2'),
    (_DECODER_LAYER + r'ffn\.layers\.1\.(weight|bias)',
     _OUR_PREDICTOR + r'transformer_ffn_layers.\1.linear2.\2'),
    (_DECODER_LAYER + r'norms\.2\.(weight|bias)',
     _OUR_PREDICTOR + r'transformer_ffn_layers.\1.norm.\2'),
    (r'transformer_decoder\.post_norm\.(weight|bias)', _OUR_PREDICTOR + r'decoder_norm.\1'),
    (r'(query_embed|query_feat|level_embed)\.weight', _OUR_PREDICTOR + r'\1.weight'),
    (r'cls_embed\.(weight|bias)', _OUR_PREDICTOR + r'class_embed.\1'),
    # mmdet's mask MLP is Sequential(Linear, ReLU, Linear, ReLU, Linear).
    (r'mask_embed\.0\.(weight|bias)', _OUR_PREDICTOR + r'mask_embed.layers.0.\1'),
    (r'mask_embed\.2\.(weight|bias)', _OUR_PREDICTOR + r'mask_embed.layers.1.\1'),
    (r'mask_embed\.4\.(weight|bias)', _OUR_PREDICTOR + r'mask_embed.layers.2.\1'),
]


def pixel_decoder_key_map(mmdet_state_dict: Dict[str, object]) -> Dict[str, object]:
    """Rename the state dict of mmdet's ``MSDeformAttnPixelDecoder`` (keys
    relative to the decoder) to :class:`~m2f_mm.models.pixel_decoder.MSDeformAttnPixelDecoder`'s.

    Raises:
        KeyError: naming any key without a mapping.
    """
    return rename_keys(mmdet_state_dict, PIXEL_DECODER_RULES, 'mmdet')


def mmdet_head_key_map(mmdet_state_dict: Dict[str, object]) -> Dict[str, object]:
    """Rename the state dict of mmdet's ``Mask2FormerHead`` (keys relative to the
    head) to :class:`~m2f_mm.models.mask2former_head.Mask2FormerHead`'s.

    mmdet keeps no counterpart of the criterion's ``empty_weight`` buffer (its
    no-object weight sits in the loss config), so that key is absent.

    Raises:
        KeyError: naming any key without a mapping.
    """
    return rename_keys(mmdet_state_dict, HEAD_RULES, 'mmdet')


def mmdet_model_rules(head_prefix: str) -> Rules:
    """Rules for a whole mmdet or mmseg Mask2Former model's state dict.

    The backbone keeps its names (our configs use the host's backbones); the
    head (``panoptic_head.`` in mmdet, ``decode_head.`` in mmseg) moves under
    ``head_prefix``, the head's name in the target model.
    """
    backbone = [(r'(backbone\..*)', r'\1')]
    return backbone + [rule for source in ('panoptic_head.', 'decode_head.')
                       for rule in prefixed(HEAD_RULES, source, head_prefix)]
