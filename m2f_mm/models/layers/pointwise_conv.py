"""A Conv2d whose 1x1 kernels run as a batched matrix product on CPU.

Shape letters: B batch, C in channels, O out channels, H x W map size,
s the stride.

oneDNN, which runs PyTorch's CPU convolutions, takes up to twice as long for a
1x1 convolution (forward and backward) as for the same product through
``bmm``, at the pixel decoder's and ResNet's stride-4 and stride-8 sizes
(``tools/analysis_tools/benchmark.py`` profiles it). The product is the
convolution's own formula, so results agree up to summation order. Other
kernels, and every kernel on other devices (cuDNN has no such gap), are left
to the convolution.

:class:`PixelMajorConv2d` writes its product pixel by pixel (channels-last
memory under the (B, O, H, W) shape) for maps whose readers take each pixel's
channels together: the mask head's per-pixel embedding, whose products with
the query embeddings and point samples of those run about twice as fast from
pixel rows (:mod:`m2f_mm.models.layers.mask_product`).
"""
from typing import Optional

import torch
from torch import Tensor, nn

from .retype import retype_layers

__all__ = ['Conv2d', 'PixelMajorConv2d', 'from_pixel_rows', 'is_pixel_major', 'pixel_rows',
           'use_pointwise_conv']


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and checkpoint keys) computing 1x1,
    unpadded, ungrouped kernels on CPU as ``bmm``."""

    #: Write the 1x1 product channels-last (see :class:`PixelMajorConv2d`).
    pixel_major = False

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        """x (B, C, H, W), weight (O, C, 1, 1), bias (O,) -> (B, O, H/s, W/s)."""
        pointwise = (self.kernel_size == (1, 1) and self.groups == 1 and x.dim() == 4
                     and self.padding in ((0, 0), 'valid') and x.device.type == 'cpu')
        if not pointwise:
            return super()._conv_forward(x, weight, bias)
        pixel_major = self.pixel_major or is_pixel_major(x)
        if self.stride != (1, 1):
            # An unpadded 1x1 kernel reads only every s-th pixel.
            x = x[:, :, ::self.stride[0], ::self.stride[1]]
        b, c, h, w = x.shape
        if pixel_major:
            # (B, HW, O) = x^T weight^T: the same sums, stored pixel by pixel (as
            # a convolution stores a channels-last input's). A pixel-major input
            # is read as rows, any other through a transposed view.
            pixels = pixel_rows(x)
            weight = weight.view(-1, c).T.expand(b, -1, -1)  # (B, C, O)
            out = (torch.bmm(pixels, weight) if bias is None
                   else torch.baddbmm(bias, pixels, weight))
            return from_pixel_rows(out, h, w)
        flat = x.reshape(b, c, h * w)
        weight = weight.view(1, -1, c).expand(b, -1, -1)  # (B, O, C)
        out = (torch.bmm(weight, flat) if bias is None
               else torch.baddbmm(bias.view(1, -1, 1), weight, flat))
        if not out.requires_grad or torch.jit.is_tracing():  # (ONNX has no _unsafe_view)
            return out.view(b, -1, h, w)
        # Not a view for autograd (as a convolution's output is not): an in-place
        # op on it, such as a ResNet's ReLU or residual add, then costs no
        # CopySlices copy of the gradient in backward. Nothing else holds ``out``.
        return torch.ops.aten._unsafe_view(out, (b, -1, h, w))


def is_pixel_major(x: Tensor) -> bool:
    """Whether a (B, C, H, W) ``x`` is stored channels-last (and not also plainly)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def pixel_rows(x: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, H * W, C): a view of rows where ``x`` is pixel-major."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def from_pixel_rows(rows: Tensor, h: int, w: int) -> Tensor:
    """(B, H * W, C) rows -> their (B, C, H, W) view, pixel-major in memory."""
    return rows.view(rows.shape[0], h, w, -1).permute(0, 3, 1, 2)


class PixelMajorConv2d(Conv2d):
    """:class:`Conv2d` whose 1x1 product on CPU is channels-last in memory:
    (B, H, W, O) data under the (B, O, H, W) shape. Elsewhere, and for other
    kernels, the output is the convolution's own."""

    pixel_major = True


def use_pointwise_conv(module: nn.Module) -> int:
    """Make every plain ``nn.Conv2d`` inside ``module`` a :class:`Conv2d`, in
    place (same objects and parameters; subclasses such as mmcv's
    deformable convolutions are left alone).

    Returns:
        The number of layers changed.
    """
    return retype_layers(module, nn.Conv2d, Conv2d)
