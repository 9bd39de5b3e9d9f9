"""Thin adapters that plug the core head into mmdet and mmseg."""
from .det import Mask2FormerDetector, Mask2FormerDetHead, Mask2FormerFusionHead
from .seg import Mask2FormerDecodeHead

__all__ = ['Mask2FormerDetector', 'Mask2FormerDetHead', 'Mask2FormerFusionHead',
           'Mask2FormerDecodeHead']
