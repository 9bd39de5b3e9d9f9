"""The multi-scale deformable attention module (the op is :mod:`m2f_mm.ops`).

Shape letters: B batch, Q queries, S value positions of all levels, C
channels, N heads, L levels, P sampling points per head and level.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m2f_mm.ops import multi_scale_deformable_attention
from .short_softmax import short_softmax

__all__ = ['MSDeformAttn']


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention without residual or dropout.

    Each query predicts, per head, level and point, a sampling offset
    (normalised by the level's (W, H)) from its reference point and an
    attention weight (softmax over the L * P samples of the head).

    Args:
        embed_dims: C.
        num_heads: N; must divide C.
        num_levels: L.
        num_points: P.
        im2col_step: Batch chunk size of the CUDA kernel.
    """

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, num_levels: int = 4,
                 num_points: int = 4, im2col_step: int = 64) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by '
                             f'num_heads ({num_heads})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.im2col_step = im2col_step
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    def init_weights(self) -> None:
        """Deformable-DETR init: head h starts sampling along direction
        2*pi*h/N (scaled so its larger component is 1), point i at i + 1
        pixels, on every level; attention starts uniform."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2 * math.pi / self.num_heads)
        directions = torch.stack([angles.cos(), angles.sin()], -1)
        directions = directions / directions.abs().amax(-1, keepdim=True)  # (N, 2)
        steps = torch.arange(1, self.num_points + 1, dtype=torch.float32)  # (P,)
        grid = directions[:, None, None, :] * steps[None, None, :, None]  # (N, 1, P, 2)
        grid = grid.expand(-1, self.num_levels, -1, -1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(self, query: Tensor, reference_points: Tensor, value: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor) -> Tensor:
        """Attend from every query to P points per head around its reference.

        Args:
            query: (B, Q, C) queries (position embedding already added).
            reference_points: (B, Q, L, 2) normalised (x, y) per level.
            value: (B, S, C) flattened multi-level features.
            spatial_shapes: (L, 2) integer (H_l, W_l).
            level_start_index: (L,) offset of each level in S.

        Returns:
            (B, Q, C) attended features (no residual).
        """
        b, q, _ = query.shape
        n, lvl, p = self.num_heads, self.num_levels, self.num_points
        value = self.value_proj(value).view(b, value.shape[1], n, -1)
        # Offsets are in pixels of their level; normalising them by its (W, H) is a
        # scale of each output of sampling_offsets, applied to its weight and bias:
        # the same function without a broadcast division of the (B, Q, N, L, P, 2)
        # offsets and its backward.
        per_level = 1 / spatial_shapes.flip(-1).to(query.dtype)  # (L, 2) as (1/W, 1/H)
        scale = per_level[None, :, None, :].expand(n, lvl, p, 2).reshape(-1)
        offsets = F.linear(query, self.sampling_offsets.weight * scale[:, None],
                           self.sampling_offsets.bias * scale).view(b, q, n, lvl, p, 2)
        weights = short_softmax(self.attention_weights(query).view(b, q, n, lvl * p))
        locations = reference_points[:, :, None, :, None, :] + offsets
        out = multi_scale_deformable_attention(value, spatial_shapes, level_start_index,
                                               locations, weights.view(b, q, n, lvl, p),
                                               self.im2col_step)
        return self.output_proj(out.to(query.dtype))

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'num_levels={self.num_levels}, num_points={self.num_points}')
