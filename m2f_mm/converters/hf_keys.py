"""Read HuggingFace transformers Mask2Former checkpoints; rename their keys to m2f_mm's.

Shape letters: C width of the attention (the Swin stage's or the decoder's).

A checkpoint holds ``Mask2FormerForUniversalSegmentation``'s state dict: the
backbone under ``model.pixel_level_module.encoder.`` (transformers'
``SwinBackbone`` or ``ResNetBackbone``), the pixel decoder under
``model.pixel_level_module.decoder.``, the transformer decoder under
``model.transformer_module.``, then ``class_predictor`` and
``criterion.empty_weight``. ``save_pretrained`` and the hub use the Swin names
of transformers 4 (``attention.self.query``, ``intermediate.dense``); the
modules of transformers 5 carry others (``attention.q_proj``, ``mlp.fc1``,
under ``swin.``), so a state dict saved straight from a transformers 5 model
converts too. Rule tables follow :mod:`m2f_mm.converters.rename`.

Separate query / key / value projections (Swin's attention and the decoder's
self-attention) are renamed to ``<our fused key>:q`` (``:k``, ``:v``) and
concatenated into the fused tensor in that order afterwards.

The architecture hyper-parameters are not in the weights: the target config
must match the checkpoint's ``config.json`` (``feature_size`` =
``hidden_dim`` = ``embed_dims``, ``mask_feature_size`` = ``mask_channels``,
``encoder_layers`` and ``encoder_feedforward_dim`` = the pixel decoder's
``num_layers`` and ``ffn_channels``, ``decoder_layers - 1`` and
``dim_feedforward`` = the transformer decoder's ``num_layers`` and
``ffn_channels``, ``num_attention_heads`` = both ``num_heads``; a ResNet with
``downsample_in_bottleneck`` is mmcv's ``style='caffe'``). Widths and layer
counts that differ are refused when the state dict is fitted; head counts and
``pre_norm=True`` (our layers are post-norm) do not show in the keys.
"""
import importlib.util
import os.path as osp
from typing import Dict, List

import torch
from torch import Tensor

from .rename import Rules, prefixed, rename_keys
from .swin import convert_patch_merging

__all__ = ['SWIN_RULES', 'RESNET_RULES', 'PIXEL_DECODER_RULES', 'TRANSFORMER_MODULE_RULES',
           'hf_model_rules', 'hf_key_map', 'read_hf']

# Separates a fused key from the part (q, k or v) a renamed projection fills.
_PART = ':'
# transformers 4's names of the Swin projections, in the fused order.
_QKV_NAMES = {'q': 'query', 'k': 'key', 'v': 'value'}
_QKV = tuple(_QKV_NAMES)
_PARAM = r'(weight|bias)'
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'

# transformers 5 nests the Swin body under ``swin.``; its saved checkpoints do not.
_SWIN = r'(?:swin\.)?'
_BLOCK = _SWIN + r'encoder\.layers\.(\d+)\.blocks\.(\d+)\.'
_OUR_BLOCK = r'stages.\1.blocks.\2.'

# transformers' SwinBackbone (4 / 5 names) -> mmcv's SwinTransformer.
SWIN_RULES: Rules = [
    (_SWIN + r'embeddings\.patch_embeddings\.projection\.' + _PARAM,
     r'patch_embed.projection.\1'),
    (_SWIN + r'embeddings\.norm\.' + _PARAM, r'patch_embed.norm.\1'),
    (_BLOCK + r'layernorm_before\.' + _PARAM, _OUR_BLOCK + r'norm1.\3'),
    (_BLOCK + r'layernorm_after\.' + _PARAM, _OUR_BLOCK + r'norm2.\3'),
    *[(_BLOCK + rf'attention\.(?:self\.{name}|{part}_proj)\.' + _PARAM,
       _OUR_BLOCK + r'attn.w_msa.qkv.\3' + _PART + part) for part, name in _QKV_NAMES.items()],
    (_BLOCK + r'attention\.(?:output\.dense|o_proj)\.' + _PARAM,
     _OUR_BLOCK + r'attn.w_msa.proj.\3'),
    (_BLOCK + r'attention\.(?:self|relative_position_bias)\.relative_position_bias_table',
     _OUR_BLOCK + 'attn.w_msa.relative_position_bias_table'),
    # transformers 4 persisted the index (same values as mmcv's); 5 recomputes it.
    (_BLOCK + r'attention\.self\.relative_position_index',
     _OUR_BLOCK + 'attn.w_msa.relative_position_index'),
    (_BLOCK + r'(?:intermediate\.dense|mlp\.fc1)\.' + _PARAM, _OUR_BLOCK + r'ffn.layers.0.0.\3'),
    (_BLOCK + r'(?:output\.dense|mlp\.fc2)\.' + _PARAM, _OUR_BLOCK + r'ffn.layers.1.\3'),
    (_SWIN + r'encoder\.layers\.(\d+)\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)',
     r'stages.\1.downsample.\2'),
    *[(rf'hidden_states_norms\.stage{stage + 1}\.' + _PARAM, rf'norm{stage}.\1')
      for stage in range(4)],
    # SwinModel's final norm: SwinBackbone never applies it (its outputs use the
    # per-stage hidden_states_norms).
    (r'swin\.layernorm\.' + _PARAM, None),
]

_LAYER = r'encoder\.stages\.{stage}\.layers\.(\d+)\.'
_OUR_LAYER = r'layer{stage}.\1.'

# transformers' ResNetBackbone (stem ``embedder``, stage i, shortcut, ``layer.k`` of
# the basic or bottleneck block) -> mmcv's ResNet (conv1 / bn1, layer{i+1},
# downsample.{0,1}, conv{k+1} / bn{k+1}).
RESNET_RULES: Rules = [
    (r'embedder\.embedder\.convolution\.weight', 'conv1.weight'),
    (r'embedder\.embedder\.normalization\.' + _BN, r'bn1.\1'),
] + [rule for stage in range(4) for rule in (
    (_LAYER.format(stage=stage) + r'shortcut\.convolution\.weight',
     _OUR_LAYER.format(stage=stage + 1) + 'downsample.0.weight'),
    (_LAYER.format(stage=stage) + r'shortcut\.normalization\.' + _BN,
     _OUR_LAYER.format(stage=stage + 1) + r'downsample.1.\2'),
    *[(_LAYER.format(stage=stage) + rf'layer\.{conv}\.convolution\.weight',
       _OUR_LAYER.format(stage=stage + 1) + f'conv{conv + 1}.weight') for conv in range(3)],
    *[(_LAYER.format(stage=stage) + rf'layer\.{conv}\.normalization\.' + _BN,
       _OUR_LAYER.format(stage=stage + 1) + rf'bn{conv + 1}.\2') for conv in range(3)],
)]

_ENCODER_LAYER = r'encoder\.layers\.(\d+)\.'
_OUR_ENCODER_LAYER = r'transformer.encoder.layers.\1.'

# transformers' Mask2FormerPixelDecoder -> our MSDeformAttnPixelDecoder.
PIXEL_DECODER_RULES: Rules = [
    (r'level_embed', 'transformer.level_embed'),
    (r'input_projections\.(\d+)\.([01])\.' + _PARAM, r'input_proj.\1.\2.\3'),
    (_ENCODER_LAYER + r'self_attn\.(sampling_offsets|attention_weights|value_proj|output_proj)\.'
     + _PARAM, _OUR_ENCODER_LAYER + r'self_attn.\2.\3'),
    (_ENCODER_LAYER + r'self_attn_layer_norm\.' + _PARAM, _OUR_ENCODER_LAYER + r'norm1.\2'),
    (_ENCODER_LAYER + r'fc1\.' + _PARAM, _OUR_ENCODER_LAYER + r'linear1.\2'),
    (_ENCODER_LAYER + r'fc2\.' + _PARAM, _OUR_ENCODER_LAYER + r'linear2.\2'),
    (_ENCODER_LAYER + r'final_layer_norm\.' + _PARAM, _OUR_ENCODER_LAYER + r'norm2.\2'),
    (r'(adapter_1|layer_1)\.0\.weight', r'\1.weight'),
    (r'(adapter_1|layer_1)\.1\.' + _PARAM, r'\1.norm.\2'),
    (r'mask_projection\.' + _PARAM, r'mask_features.\1'),
]

_DECODER_LAYER = r'decoder\.layers\.(\d+)\.'
_OUR_SELF = r'transformer_self_attention_layers.\1.'
_OUR_CROSS = r'transformer_cross_attention_layers.\1.'
_OUR_FFN = r'transformer_ffn_layers.\1.'

# transformers' Mask2FormerTransformerModule -> our MaskedAttentionDecoder. Its
# queries_embedder is the query position embedding, queries_features the content.
TRANSFORMER_MODULE_RULES: Rules = [
    (r'queries_embedder\.weight', 'query_embed.weight'),
    (r'queries_features\.weight', 'query_feat.weight'),
    (r'level_embed\.weight', 'level_embed.weight'),
    # Only present when feature_size != hidden_dim (or enforce_input_projection),
    # which our decoder does not build: the fit then reports these keys.
    (r'input_projections\.(\d+)\.' + _PARAM, r'input_proj.\1.\2'),
    *[(_DECODER_LAYER + rf'self_attn\.{part}_proj\.' + _PARAM,
       _OUR_SELF + r'self_attn.in_proj_\2' + _PART + part) for part in _QKV],
    (_DECODER_LAYER + r'self_attn\.out_proj\.' + _PARAM, _OUR_SELF + r'self_attn.out_proj.\2'),
    (_DECODER_LAYER + r'self_attn_layer_norm\.' + _PARAM, _OUR_SELF + r'norm.\2'),
    (_DECODER_LAYER + r'cross_attn\.(in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)',
     _OUR_CROSS + r'multihead_attn.\2'),
    (_DECODER_LAYER + r'cross_attn_layer_norm\.' + _PARAM, _OUR_CROSS + r'norm.\2'),
    (_DECODER_LAYER + r'fc1\.' + _PARAM, _OUR_FFN + r'linear1.\2'),
    (_DECODER_LAYER + r'fc2\.' + _PARAM, _OUR_FFN + r'linear2.\2'),
    (_DECODER_LAYER + r'final_layer_norm\.' + _PARAM, _OUR_FFN + r'norm.\2'),
    (r'decoder\.layernorm\.' + _PARAM, r'decoder_norm.\1'),
    (r'decoder\.mask_predictor\.mask_embedder\.(\d+)\.0\.' + _PARAM, r'mask_embed.layers.\1.\2'),
]


def hf_model_rules(head_prefix: str) -> Rules:
    """Rules for a whole ``Mask2FormerForUniversalSegmentation`` state dict, the
    head moving under ``head_prefix`` (``panoptic_head.`` in an mmdet model,
    ``decode_head.`` in an mmseg one)."""
    return [
        *prefixed(SWIN_RULES + RESNET_RULES, 'model.pixel_level_module.encoder.', 'backbone.'),
        *prefixed(PIXEL_DECODER_RULES, 'model.pixel_level_module.decoder.',
                  head_prefix + 'pixel_decoder.'),
        *prefixed(TRANSFORMER_MODULE_RULES, 'model.transformer_module.',
                  head_prefix + 'predictor.'),
        (r'class_predictor\.' + _PARAM, head_prefix + r'predictor.class_embed.\1'),
        (r'criterion\.empty_weight', head_prefix + 'criterion.empty_weight'),
    ]


def _fuse_qkv(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Concatenate every ``<key>:q``, ``<key>:k``, ``<key>:v`` triple into ``<key>``.

    Each part is (C, C) or (C,); the fused tensor is (3C, C) or (3C,).

    Raises:
        KeyError: naming a fused key whose parts are incomplete.
    """
    fused = {key: value for key, value in state_dict.items() if _PART not in key}
    parts: Dict[str, Dict[str, Tensor]] = {}
    for key, value in state_dict.items():
        if _PART in key:
            base, part = key.rsplit(_PART, 1)
            parts.setdefault(base, {})[part] = value
    incomplete: List[str] = [f'{base} (has {sorted(found)})' for base, found in parts.items()
                             if set(found) != set(_QKV)]
    if incomplete:
        raise KeyError(f'query/key/value projections incomplete for: {incomplete[:4]}')
    fused.update({base: torch.cat([found[part] for part in _QKV])
                  for base, found in parts.items()})
    return fused


def hf_key_map(state_dict: Dict[str, Tensor], head_prefix: str) -> Dict[str, Tensor]:
    """Rename a transformers Mask2Former state dict to an m2f_mm model's keys.

    Raises:
        KeyError: naming any key without a mapping, or q/k/v projections
            that are not all present.
    """
    renamed = rename_keys(state_dict, hf_model_rules(head_prefix), 'transformers')
    return convert_patch_merging(_fuse_qkv(renamed))


_SAFETENSORS = 'model.safetensors'
_PYTORCH_BIN = 'pytorch_model.bin'


def read_hf(path: str) -> Dict[str, Tensor]:
    """Read a transformers checkpoint without running code from it.

    Args:
        path: A ``save_pretrained`` directory (``model.safetensors`` or
            ``pytorch_model.bin`` inside), a ``.safetensors`` file or a
            ``.bin`` file.

    Raises:
        FileNotFoundError: a directory with neither weights file.
        ImportError: a ``.safetensors`` file while the ``safetensors``
            package is not installed.
    """
    if osp.isdir(path):
        names = [name for name in (_SAFETENSORS, _PYTORCH_BIN) if osp.isfile(osp.join(path, name))]
        if not names:
            raise FileNotFoundError(f'{path} holds neither {_SAFETENSORS} nor {_PYTORCH_BIN} '
                                    '(sharded checkpoints are not supported)')
        # Without the safetensors package, a pytorch_model.bin beside it still reads.
        if _PYTORCH_BIN in names and importlib.util.find_spec('safetensors') is None:
            names = [_PYTORCH_BIN]
        path = osp.join(path, names[0])
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ImportError(f'reading {path} needs the safetensors package: '
                              'pip install safetensors') from None
        return load_file(path, device='cpu')
    # A .bin is a torch pickle: weights_only refuses anything but tensors and containers.
    return torch.load(path, map_location='cpu', weights_only=True)
