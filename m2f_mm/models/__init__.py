"""Mask2Former's host-independent core: importing it imports neither mmdet nor mmseg.

Checkpoint compatibility: sub-module names follow the reference implementation's
checkpoints (``pixel_decoder.adapter_1``, ``layer_1``, ``predictor``,
``pe_layer``, ...), so that reference weights load by name; this is why some
names describe a position in the reference code rather than a meaning.
"""
from .criterion import Mask2FormerCriterion
from .fpn_pixel_decoder import FPNPixelDecoder, TransformerEncoderPixelDecoder
from .inference import Mask2FormerInference
from .layers import MSDeformAttn, SinePositionalEncoding
from .mask2former_head import Mask2FormerHead
from .matcher import HungarianMatcher
from .pixel_decoder import MSDeformAttnPixelDecoder
from .transformer_decoder import MaskedAttentionDecoder

__all__ = ['Mask2FormerHead', 'MSDeformAttnPixelDecoder', 'FPNPixelDecoder',
           'TransformerEncoderPixelDecoder', 'MaskedAttentionDecoder',
           'MSDeformAttn', 'SinePositionalEncoding', 'HungarianMatcher',
           'Mask2FormerCriterion', 'Mask2FormerInference']
