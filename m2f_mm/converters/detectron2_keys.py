"""Rename the reference Mask2Former's detectron2 keys to an m2f_mm model's.

The reference saves ``{"model": {name: ndarray}}``: the backbone under
``backbone.`` (detectron2's ResNet, or the Swin port with the original Swin
names), the head under ``sem_seg_head.`` and the no-object weight as
``criterion.empty_weight``. Our head's modules carry the reference's names,
so only prefixes change there; the backbones become mmdet's / mmseg's ResNet
and SwinTransformer. Rule tables follow :mod:`m2f_mm.converters.rename`.
"""
from typing import Dict

from torch import Tensor

from .rename import Rules, rename_keys
from .swin import convert_patch_merging

__all__ = ['RESNET_RULES', 'SWIN_RULES', 'detectron2_model_rules', 'detectron2_key_map']

_BN = r'(weight|bias|running_mean|running_var)'

# detectron2's ResNet (stem, res2..res5, convN.norm, shortcut) -> mmcv's (conv1, bn1,
# layer1..layer4, bnN, downsample.{0,1}).
RESNET_RULES: Rules = [
    (r'stem\.conv1\.weight', 'conv1.weight'),
    (r'stem\.conv1\.norm\.' + _BN, r'bn1.\1'),
] + [rule for stage in range(2, 6) for rule in (
    (rf'res{stage}\.(\d+)\.conv([123])\.weight', rf'layer{stage - 1}.\1.conv\2.weight'),
    (rf'res{stage}\.(\d+)\.conv([123])\.norm\.' + _BN, rf'layer{stage - 1}.\1.bn\2.\3'),
    (rf'res{stage}\.(\d+)\.shortcut\.weight', rf'layer{stage - 1}.\1.downsample.0.weight'),
    (rf'res{stage}\.(\d+)\.shortcut\.norm\.' + _BN, rf'layer{stage - 1}.\1.downsample.1.\2'),
)]

_BLOCK = r'layers\.(\d+)\.blocks\.(\d+)\.'
_OUR_BLOCK = r'stages.\1.blocks.\2.'
_PARAM = r'(weight|bias)'

# The original Swin names -> mmcv's SwinTransformer (mmdet and mmseg agree).
SWIN_RULES: Rules = [
    (r'patch_embed\.proj\.' + _PARAM, r'patch_embed.projection.\1'),
    (r'patch_embed\.norm\.' + _PARAM, r'patch_embed.norm.\1'),
    (_BLOCK + r'(norm1|norm2)\.' + _PARAM, _OUR_BLOCK + r'\3.\4'),
    (_BLOCK + r'attn\.(qkv|proj)\.' + _PARAM, _OUR_BLOCK + r'attn.w_msa.\3.\4'),
    (_BLOCK + r'attn\.(relative_position_bias_table|relative_position_index)',
     _OUR_BLOCK + r'attn.w_msa.\3'),
    (_BLOCK + r'mlp\.fc1\.' + _PARAM, _OUR_BLOCK + r'ffn.layers.0.0.\3'),
    (_BLOCK + r'mlp\.fc2\.' + _PARAM, _OUR_BLOCK + r'ffn.layers.1.\3'),
    (r'layers\.(\d+)\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)',
     r'stages.\1.downsample.\2'),
    (r'(norm\d)\.' + _PARAM, r'\1.\2'),
    (r'absolute_pos_embed', 'absolute_pos_embed'),
]


def detectron2_model_rules(head_prefix: str) -> Rules:
    """Rules for a whole reference checkpoint, its head moving under ``head_prefix``
    (``panoptic_head.`` in an mmdet model, ``decode_head.`` in an mmseg one)."""
    backbone = [(r'backbone\.' + pattern, 'backbone.' + replacement)
                for pattern, replacement in RESNET_RULES + SWIN_RULES]
    return backbone + [
        (r'sem_seg_head\.((pixel_decoder|predictor)\..*)', head_prefix + r'\1'),
        (r'criterion\.empty_weight', head_prefix + 'criterion.empty_weight'),
        # The input normalisation lives in the config's data_preprocessor.
        (r'pixel_(mean|std)', None),
    ]


def detectron2_key_map(model: Dict[str, Tensor], head_prefix: str) -> Dict[str, Tensor]:
    """Rename a reference ``model`` dict to an m2f_mm model's keys.

    Raises:
        KeyError: naming any key without a mapping.
    """
    renamed = rename_keys(model, detectron2_model_rules(head_prefix), 'detectron2')
    return convert_patch_merging(renamed)
