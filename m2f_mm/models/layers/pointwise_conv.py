"""A Conv2d whose 1x1 kernels run as a batched matrix product.

Shape letters: B batch, C in channels, O out channels, H x W map size.

oneDNN, which runs PyTorch's CPU convolutions, takes about twice as long for a
1x1 convolution (forward and backward) as for the same product through
``bmm``, at the pixel decoder's stride-4 sizes (``tools/analysis_tools/
benchmark.py`` profiles it). The product is the convolution's own formula,
so results agree up to summation order; other kernels are left to the
convolution.
"""
from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ['Conv2d']


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and checkpoint keys) computing 1x1,
    stride-1, unpadded, ungrouped kernels as ``bmm``."""

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        """x (B, C, H, W), weight (O, C, 1, 1), bias (O,) -> (B, O, H, W)."""
        pointwise = (self.kernel_size == (1, 1) and self.stride == (1, 1) and self.groups == 1
                     and self.padding in ((0, 0), 'valid') and x.dim() == 4)
        if not pointwise:
            return super()._conv_forward(x, weight, bias)
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        weight = weight.view(1, -1, c).expand(b, -1, -1)  # (B, O, C)
        out = (torch.bmm(weight, flat) if bias is None
               else torch.baddbmm(bias.view(1, -1, 1), weight, flat))
        return out.view(b, -1, h, w)
