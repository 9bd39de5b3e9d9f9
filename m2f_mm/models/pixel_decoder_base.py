"""What every pixel decoder shares: checked input levels, a float32 forward, and
the conv + norm + activation block.

Shape letters: B batch, C_i channels of input level i (0 the finest),
H_i x W_i its size, E mask_channels, C embed_dims, h_l x w_l output level size.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .layers.pointwise_conv import Conv2d

__all__ = ['PixelDecoder', 'ConvNorm']


class ConvNorm(Conv2d):
    """:class:`~m2f_mm.models.layers.Conv2d` followed by an optional ``norm`` and ``activation`` submodule."""

    def __init__(self, *args, norm: Optional[nn.Module] = None,
                 activation: Optional[nn.Module] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class PixelDecoder(nn.Module):
    """Base of the pixel decoders: subclasses implement :meth:`decode`.

    The decoder runs in its parameters' dtype (float32) with autocast
    disabled, as the reference does; subclasses own a ``mask_features`` conv.

    Args:
        in_channels: C_i of every input level.
        strides: Stride of every input level, strictly increasing.
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int]) -> None:
        super().__init__()
        if len(strides) != len(in_channels):
            raise ValueError(f'strides has {len(strides)} entries but in_channels has '
                             f'{len(in_channels)}; give one per input level')
        if any(a >= b for a, b in zip(strides, strides[1:])):
            raise ValueError(f'strides must be strictly increasing, got {list(strides)}')
        self.num_inputs = len(in_channels)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Check the inputs and decode them in float32; see :meth:`decode`."""
        if len(feats) != self.num_inputs:
            raise ValueError(f'expected {self.num_inputs} feature maps (one per '
                             f'in_channels entry), got {len(feats)}')
        dtype = self.mask_features.weight.dtype
        with torch.autocast(feats[0].device.type, enabled=False):
            return self.decode([f.to(dtype) for f in feats])

    def decode(self, feats: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Build the per-pixel embedding and the transformer decoder's features.

        Args:
            feats: One (B, C_i, H_i, W_i) map per input level, finest first.

        Returns:
            mask_features: (B, E, H_f, W_f), the per-pixel embedding.
            multi_scale_features: maps (B, C, h_l, w_l), coarsest first.
        """
        raise NotImplementedError
