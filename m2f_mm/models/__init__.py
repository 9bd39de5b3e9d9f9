"""Mask2Former's parts; importing this package registers them all."""
from .adapters import (Mask2FormerDecodeHead, Mask2FormerDetector, Mask2FormerDetHead,
                       Mask2FormerFusionHead)
from .criterion import Mask2FormerCriterion
from .inference import Mask2FormerInference
from .layers import MSDeformAttn, SinePositionalEncoding
from .mask2former_head import Mask2FormerHead
from .matcher import HungarianMatcher
from .pixel_decoder import MSDeformAttnPixelDecoder
from .transformer_decoder import MaskedAttentionDecoder

__all__ = ['Mask2FormerHead', 'MSDeformAttnPixelDecoder', 'MaskedAttentionDecoder',
           'MSDeformAttn', 'SinePositionalEncoding', 'HungarianMatcher',
           'Mask2FormerCriterion', 'Mask2FormerInference', 'Mask2FormerDetHead',
           'Mask2FormerFusionHead', 'Mask2FormerDetector', 'Mask2FormerDecodeHead']
