"""A MaxPool2d whose CPU inference runs on a channels-last copy.

Shape letters: B batch, C channels, H x W map size.

PyTorch's CPU max pooling of a contiguous (B, C, H, W) map, which also
records the argmax of every window, takes about 5 times as long as its
channels-last kernel at a ResNet stem's size (1 x 64 x 256 x 256: 18 ms
against 4 here, copies included). Without a gradient to route, the copy to
channels-last and back costs less than that difference; with one, the
channels-last backward is the slower, so training keeps the plain kernel.
Pooling selects values, so both results are identical.
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .retype import retype_layers

__all__ = ['MaxPool2d', 'use_channels_last_max_pool']


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` whose forward without a gradient on CPU pools a
    channels-last copy."""

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> (B, C, H', W')."""
        no_grad = not (torch.is_grad_enabled() and x.requires_grad)
        if not (no_grad and x.device.type == 'cpu' and x.dim() == 4 and not self.return_indices):
            return super().forward(x)
        out = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), self.kernel_size,
                           self.stride, self.padding, self.dilation, ceil_mode=self.ceil_mode)
        return out.contiguous()


def use_channels_last_max_pool(module: nn.Module) -> int:
    """Make every plain ``nn.MaxPool2d`` inside ``module`` a :class:`MaxPool2d`,
    in place.

    Returns:
        The number of layers changed.
    """
    return retype_layers(module, nn.MaxPool2d, MaxPool2d)
