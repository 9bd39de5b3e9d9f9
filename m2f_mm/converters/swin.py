"""Swin patch merging: the channel order of the reference (and transformers) vs mmcv's.

Shape letters: C channels of a stage, O output channels of the reduction.

The reference merges a 2x2 neighbourhood by concatenating four sub-grids in
the order (row, col) = (0, 0), (1, 0), (0, 1), (1, 1), block by block: input
channel ``b * C + c``. mmdet's and mmseg's ``PatchMerging`` use ``nn.Unfold``,
which interleaves instead: channel ``c * 4 + (2 * row + col)``. The
reduction's columns and the norm before it are permuted to match.
"""
import re
from typing import Dict

from torch import Tensor

__all__ = ['merging_to_unfold_order', 'convert_patch_merging']

# Unfold position p = 2 * row + col holds the reference block row + 2 * col.
_REFERENCE_BLOCK_OF_UNFOLD_POSITION = [0, 2, 1, 3]
_MERGING_KEY = re.compile(r'.*\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)')


def merging_to_unfold_order(t: Tensor) -> Tensor:
    """Permute the last dim, 4C in the reference block order, to mmcv's unfold order.

    Args:
        t: (O, 4C) reduction weight or (4C,) norm parameter.
    """
    blocks = t.reshape(*t.shape[:-1], 4, t.shape[-1] // 4)  # (..., 4, C)
    blocks = blocks[..., _REFERENCE_BLOCK_OF_UNFOLD_POSITION, :]
    return blocks.transpose(-1, -2).reshape(t.shape)  # (..., C, 4) -> (..., 4C)


def convert_patch_merging(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Return ``state_dict`` (mmcv Swin names) with every patch-merging tensor reordered."""
    return {key: merging_to_unfold_order(value) if _MERGING_KEY.fullmatch(key) else value
            for key, value in state_dict.items()}
