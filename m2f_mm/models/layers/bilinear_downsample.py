"""Bilinear downsampling by an even integer factor as four strided reads.

Shape letters: N, C leading dims, H x W input size, h x w output size.

Every decoder stage resizes its (B, Q, H, W) mask logits to the size of the
level the next layer attends to. ``F.interpolate(..., mode='bilinear',
align_corners=False)`` on CPU first copies its whole input (13 MB a stage for
two 512 x 512 images) before it reads the few pixels it needs. When H = s * h
and W = s * w with s even, output pixel (i, j) sits at input coordinate
(s * i + s/2 - 1/2, s * j + s/2 - 1/2): exactly halfway between pixels
s/2 - 1 and s/2 of its s x s cell in both axes, so it is the mean of those
2 x 2 pixels, and reading them with strides is the same bilinear value (equal
up to float rounding). Other sizes take ``F.interpolate``.
"""
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor

__all__ = ['bilinear_downsample']


def bilinear_downsample(x: Tensor, size: Sequence[int]) -> Tensor:
    """``F.interpolate(x, size, mode='bilinear', align_corners=False)``.

    Args:
        x: (N, C, H, W).
        size: (h, w).

    Returns:
        (N, C, h, w).
    """
    (in_h, in_w), (h, w) = x.shape[-2:], tuple(size)
    factor = in_h // h if h > 0 else 0
    if factor == 1 and (in_h, in_w) == (h, w):
        return x
    if factor < 2 or factor % 2 or (in_h, in_w) != (factor * h, factor * w):
        return F.interpolate(x, size=(h, w), mode='bilinear', align_corners=False)
    first = factor // 2 - 1

    def cell_pixel(dy: int, dx: int) -> Tensor:
        return x[..., first + dy::factor, first + dx::factor]

    return ((cell_pixel(0, 0) + cell_pixel(0, 1)) * 0.5
            + (cell_pixel(1, 0) + cell_pixel(1, 1)) * 0.5) * 0.5
