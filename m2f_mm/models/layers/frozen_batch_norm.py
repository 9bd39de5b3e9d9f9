"""BatchNorm whose frozen evaluation runs as a per-channel multiply-add.

Shape letters: B batch, C channels, H x W map size.

A ResNet trained with frozen BatchNorm (affine parameters without gradient,
statistics fixed by ``norm_eval``, as in the R50 COCO configs) normalises with
a fixed affine map. ``nn.BatchNorm2d`` still saves its (B, C, H, W) input for
a backward that only scales the gradient, and computes the parameter
gradients' reductions that nobody uses. Here that case is
``x * scale + shift`` with constants, which saves no activation: for two
512 x 512 images that is about 400 MB of a ResNet-50's training memory, and
the BatchNorm backward's time. :func:`conv_then_norm` goes further where the
convolution before the layer is known: the map then runs inside it.
"""
from typing import Tuple

import torch
from torch import Tensor, nn

from .retype import retype_layers

__all__ = ['FrozenBatchNorm2d', 'conv_then_norm', 'use_frozen_batch_norm']


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (same parameters, buffers and checkpoint keys) whose
    forward is a fixed affine map that saves nothing when nothing can change
    it: evaluation mode with running statistics, affine parameters (if any)
    without gradient, and an input in the parameters' dtype that needs a
    gradient. Otherwise it is ``nn.BatchNorm2d``'s forward (training,
    fine-tuned affine, mixed precision, inference)."""

    def is_fixed(self, dtype: torch.dtype) -> bool:
        """Whether the layer is, for inputs of ``dtype``, a fixed per-channel affine map:
        evaluation mode with running statistics, affine parameters (if any) without
        gradient, and the statistics' dtype."""
        return (not self.training and self.running_var is not None
                and dtype == self.running_var.dtype
                and not (self.affine and (self.weight.requires_grad or self.bias.requires_grad)))

    @torch.no_grad()
    def scale_and_shift(self) -> Tuple[Tensor, Tensor]:
        """(C,) scale and (C,) shift of the fixed map ``x * scale + shift``."""
        scale = (self.running_var + self.eps).rsqrt()
        if self.affine:
            scale = scale * self.weight
        shift = -self.running_mean * scale
        if self.affine:
            shift = shift + self.bias
        return scale, shift

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> (B, C, H, W)."""
        # Without a gradient nothing is saved either way, and batch_norm's
        # evaluation kernel is several times faster than a broadcast addcmul.
        if not (x.dim() == 4 and self.is_fixed(x.dtype) and torch.is_grad_enabled()
                and x.requires_grad):
            return super().forward(x)
        scale, shift = self.scale_and_shift()
        # Neither constant requires a gradient, so autograd saves nothing of x.
        return torch.addcmul(shift.view(1, -1, 1, 1), x, scale.view(1, -1, 1, 1))


def conv_then_norm(conv: nn.Module, norm: nn.Module, x: Tensor) -> Tensor:
    """``norm(conv(x))``, as one convolution when ``norm`` is a fixed
    :class:`FrozenBatchNorm2d` after a plain ``nn.Conv2d`` (or a subclass that
    keeps its ``forward``).

    The fixed map scales each output channel and shifts it, so the convolution
    takes ``weight * scale`` and the shift as its bias: the same function up to
    float rounding, and its weight gradient still reaches ``conv.weight``. That
    saves the normalisation's pass over the map, forward and backward. Under
    autocast, and in every other case, it is the two layers.

    Args:
        conv: The convolution, producing C channels.
        norm: The normalisation of those C channels.
        x: (B, C_in, H, W) the convolution's input.

    Returns:
        (B, C, H', W') the normalised output.
    """
    foldable = (isinstance(norm, FrozenBatchNorm2d) and isinstance(conv, nn.Conv2d)
                and type(conv).forward is nn.Conv2d.forward and norm.is_fixed(x.dtype)
                and not torch.is_autocast_enabled(x.device.type))
    if not foldable:
        return norm(conv(x))
    scale, shift = norm.scale_and_shift()
    if conv.bias is not None:
        shift = torch.addcmul(shift, conv.bias, scale)
    return conv._conv_forward(x, conv.weight * scale.view(-1, 1, 1, 1), shift)


def use_frozen_batch_norm(module: nn.Module) -> int:
    """Make every plain ``nn.BatchNorm2d`` inside ``module`` a
    :class:`FrozenBatchNorm2d`, in place (same objects, parameters and
    buffers; SyncBatchNorm and other subclasses are left alone).

    Returns:
        The number of layers changed.
    """
    return retype_layers(module, nn.BatchNorm2d, FrozenBatchNorm2d)
