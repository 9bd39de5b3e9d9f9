"""Turning a semantic label map into per-class mask targets.

Shape letters: H x W label-map size, M resulting masks.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ['IGNORE_INDEX', 'masks_from_label_map']

# Label of ignored and padded pixels in semantic label maps (mmseg's and
# mmdet's convention); never a mask target.
IGNORE_INDEX = 255


def masks_from_label_map(label_map: Tensor, ignore_index: int = IGNORE_INDEX,
                         label_range: Optional[Tuple[int, int]] = None) -> Tuple[Tensor, Tensor]:
    """One binary mask per label present in a label map.

    Args:
        label_map: (H, W) or (1, H, W) integer labels.
        ignore_index: Label of ignored (and padded) pixels; never a target.
        label_range: ``[low, high)``; labels outside it are skipped (a
            panoptic map keeps only its stuff labels this way).

    Returns:
        labels (M,) long, in increasing order, and masks (M, H, W) bool.
    """
    label_map = label_map.reshape(label_map.shape[-2:])
    labels = torch.unique(label_map)
    keep = labels != ignore_index
    if label_range is not None:
        keep &= (labels >= label_range[0]) & (labels < label_range[1])
    labels = labels[keep].long()
    masks = label_map[None] == labels[:, None, None].to(label_map.dtype)
    return labels, masks
