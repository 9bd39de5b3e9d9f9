"""BatchNorm whose frozen evaluation runs as a per-channel multiply-add.

Shape letters: B batch, C channels, H x W map size.

A ResNet trained with frozen BatchNorm (affine parameters without gradient,
statistics fixed by ``norm_eval``, as in the R50 COCO configs) normalises with
a fixed affine map. ``nn.BatchNorm2d`` still saves its (B, C, H, W) input for
a backward that only scales the gradient, and computes the parameter
gradients' reductions that nobody uses. Here that case is
``x * scale + shift`` with constants, which saves no activation: for two
512 x 512 images that is about 400 MB of a ResNet-50's training memory, and
the BatchNorm backward's time.
"""
import torch
from torch import Tensor, nn

from .retype import retype_layers

__all__ = ['FrozenBatchNorm2d', 'use_frozen_batch_norm']


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (same parameters, buffers and checkpoint keys) whose
    forward is a fixed affine map that saves nothing when nothing can change
    it: evaluation mode with running statistics, affine parameters (if any)
    without gradient, and an input in the parameters' dtype that needs a
    gradient. Otherwise it is ``nn.BatchNorm2d``'s forward (training,
    fine-tuned affine, mixed precision, inference)."""

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> (B, C, H, W)."""
        frozen = (not self.training and self.running_var is not None and x.dim() == 4
                  and x.dtype == self.running_var.dtype
                  and not (self.affine and (self.weight.requires_grad or self.bias.requires_grad)))
        # Without a gradient nothing is saved either way, and batch_norm's
        # evaluation kernel is several times faster than a broadcast addcmul.
        if not (frozen and torch.is_grad_enabled() and x.requires_grad):
            return super().forward(x)
        with torch.no_grad():
            scale = (self.running_var + self.eps).rsqrt()
            if self.affine:
                scale = scale * self.weight
            shift = -self.running_mean * scale
            if self.affine:
                shift = shift + self.bias
        # Neither constant requires a gradient, so autograd saves nothing of x.
        return torch.addcmul(shift.view(1, -1, 1, 1), x, scale.view(1, -1, 1, 1))


def use_frozen_batch_norm(module: nn.Module) -> int:
    """Make every plain ``nn.BatchNorm2d`` inside ``module`` a
    :class:`FrozenBatchNorm2d`, in place (same objects, parameters and
    buffers; SyncBatchNorm and other subclasses are left alone).

    Returns:
        The number of layers changed.
    """
    return retype_layers(module, nn.BatchNorm2d, FrozenBatchNorm2d)
