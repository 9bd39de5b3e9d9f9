"""Multi-scale deformable attention (Zhu et al., "Deformable DETR", ICLR 2021).

Shape letters: B batch, Q queries, S = sum over levels of H_l * W_l value
positions, C channels, N heads, Cn = C / N channels per head, L levels,
P sampling points per head and level, M = B * Q * N (one output row per query
and head), R = B * N * sum_l (H_l + 2) * (W_l + 2) rows of the zero-padded
value table used by the PyTorch path.

Sampling locations are normalised (x, y) in [0, 1] over each level, with pixel
centres at ((x + 0.5) / W, (y + 0.5) / H): bilinear sampling with zero padding
and ``align_corners=False``, as in mmcv's CUDA kernel.
"""
import functools
import importlib.util
import math
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import Function, once_differentiable

from m2f_mm.registry import MODELS

__all__ = ['multi_scale_deformable_attention', 'MSDeformAttn', 'CUDA_KERNELS', 'cuda_kernel']

_INT32_MAX_ROWS = 2 ** 31 - 1


def multi_scale_deformable_attention(value: Tensor, spatial_shapes: Tensor,
                                     level_start_index: Tensor,
                                     sampling_locations: Tensor,
                                     attention_weights: Tensor,
                                     im2col_step: int = 64) -> Tensor:
    """Weighted sum of bilinear samples of a multi-level value map.

    CUDA inputs use the first available kernel of :data:`CUDA_KERNELS`; CPU
    inputs, and CUDA inputs where no kernel is installed, use an exact PyTorch
    implementation. Half-precision inputs and autocast regions are computed in
    float32 with autocast disabled (mmcv's kernel has no half-precision
    version), so the result is then float32; float64 inputs stay float64.

    Args:
        value: (B, S, N, Cn) values of all levels, flattened row-major per
            level and concatenated in level order.
        spatial_shapes: (L, 2) integer (H_l, W_l) of each level.
        level_start_index: (L,) offset of each level in S (used by the CUDA
            kernels; the PyTorch path derives it from ``spatial_shapes``).
        sampling_locations: (B, Q, N, L, P, 2) normalised (x, y) locations;
            points outside [0, 1] read zeros beyond the border.
        attention_weights: (B, Q, N, L, P) weight of every sample (already
            normalised by the caller).
        im2col_step: Batch chunk size of mmcv's CUDA kernel.

    Returns:
        (B, Q, N * Cn) weighted sums, heads concatenated.
    """
    dtype = torch.promote_types(value.dtype, torch.float32)
    with torch.autocast(value.device.type, enabled=False):
        # The CUDA kernels also require contiguous inputs.
        value, sampling_locations, attention_weights = (
            t.to(dtype).contiguous() for t in (value, sampling_locations, attention_weights))
        kernel = _first_cuda_kernel() if value.is_cuda else None
        if kernel is not None:
            return kernel(value, spatial_shapes, level_start_index, sampling_locations,
                          attention_weights, im2col_step)
        return _ms_deform_attn_pytorch(value, spatial_shapes, sampling_locations,
                                       attention_weights)


# CUDA kernels in order of preference: m2f_mm's Triton kernel, then mmcv's.
CUDA_KERNELS = ('triton', 'mmcv')

# fn(value, spatial_shapes, level_start_index, sampling_locations,
#    attention_weights, im2col_step) -> (B, Q, N * Cn)
CudaKernel = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor, int], Tensor]


@functools.lru_cache(maxsize=None)
def cuda_kernel(name: str) -> Optional[CudaKernel]:
    """The CUDA kernel ``name`` of :data:`CUDA_KERNELS`, or None where it is
    not installed (no Triton; mmcv built without its CUDA ops)."""
    if name == 'triton':
        if importlib.util.find_spec('triton') is None:
            return None
        from .ms_deform_attn_triton import TritonMSDeformAttnFunction
        return lambda value, shapes, starts, loc, weights, _: TritonMSDeformAttnFunction.apply(
            value, shapes, starts, loc, weights)
    if name == 'mmcv':
        try:
            from mmcv.ops import get_compiling_cuda_version
            from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction
        except ImportError:
            return None
        # A CPU-only build still exports the op but fails when it is called.
        if get_compiling_cuda_version() == 'not available':
            return None
        return MultiScaleDeformableAttnFunction.apply
    raise ValueError(f'unknown CUDA kernel {name!r}; expected one of {CUDA_KERNELS}')


def _first_cuda_kernel() -> Optional[CudaKernel]:
    """The first installed kernel of :data:`CUDA_KERNELS`, or None."""
    return next(filter(None, map(cuda_kernel, CUDA_KERNELS)), None)


def _ms_deform_attn_pytorch(value: Tensor, spatial_shapes: Tensor,
                            sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
    """PyTorch path of :func:`multi_scale_deformable_attention`.

    Every level is zero-padded by one pixel, so the four bilinear corners of
    any sample that touches the level are valid rows at fixed offsets from
    its top-left corner. The gather and weighted sum is then a single
    ``embedding_bag`` over the rows of the padded (B, S', N) table, which
    keeps ``value``'s layout and writes the output directly as (B, Q, N * Cn).
    """
    b, _, n, _ = value.shape
    _, q, _, num_levels, num_points, _ = sampling_locations.shape
    m = b * q * n
    sizes = [tuple(hw) for hw in spatial_shapes.tolist()]
    padded_areas = _padded_areas(sizes)

    def per_sample(per_level: List[int], dtype: torch.dtype) -> Tensor:
        """(L * P,) tensor repeating each level's entry for its P samples."""
        return torch.tensor(per_level, dtype=dtype, device=value.device).repeat_interleave(
            num_points)

    # Sample coordinates are kept as separate (M, L*P) x and y tensors: ops
    # on them vectorise far better than on a trailing dimension of size 2.
    width = per_sample([w for _, w in sizes], value.dtype)
    height = per_sample([h for h, _ in sizes], value.dtype)
    x, y = sampling_locations.reshape(m, -1, 2).unbind(-1)
    x, y = x * width - 0.5, y * height - 0.5  # pixel units
    with torch.no_grad():
        x0, y0 = x.floor(), y.floor()
        # Samples whose 2x2 neighbourhood misses the level contribute nothing.
        inside = (x0 >= -1) & (x0 < width) & (y0 >= -1) & (y0 < height)
        # 32-bit row indices halve the index traffic whenever they suffice.
        index_dtype = torch.int32 if b * sum(padded_areas) * n <= _INT32_MAX_ROWS else torch.int64
        padded_w = width + 2
        # Position of the top-left corner in its padded level (exact in
        # floating point: far below 2**24); any valid row for skipped samples.
        local = torch.where(inside, (y0 + 1) * padded_w + (x0 + 1), 0).to(index_dtype)
        level_start = per_sample([sum(padded_areas[:i]) for i in range(num_levels)], index_dtype)
        bag_start = (torch.arange(b, device=value.device).view(b, 1, 1) * sum(padded_areas) * n
                     + torch.arange(n, device=value.device)).expand(b, q, n).reshape(m, 1)
        # Row of the top-left corner in the (B, S', N) table.
        key = (local * n).add_(level_start * n).add_(bag_start.to(index_dtype))
        padded_w = padded_w.to(index_dtype)
        corner_offsets = torch.stack([torch.zeros_like(padded_w), torch.ones_like(padded_w),
                                      padded_w, padded_w + 1]) * n  # (4, L * P)
    fx, fy = torch.where(inside, x - x0, 0), torch.where(inside, y - y0, 0)
    weight = attention_weights.reshape(m, -1) * inside
    out = _BilinearGatherSum.apply(value, sizes, key, corner_offsets, fx, fy, weight)
    return out.view(b, q, -1)


def _level_maps(table: Tensor, sizes: List[Tuple[int, int]], pad: int) -> List[Tensor]:
    """Views (B, H_l + 2 pad, W_l + 2 pad, ...) of the levels of a contiguous
    (B, sum_l (H_l + 2 pad) * (W_l + 2 pad), ...) table."""
    maps, start = [], 0
    for h, w in sizes:
        hp, wp = h + 2 * pad, w + 2 * pad
        maps.append(table[:, start:start + hp * wp].view(table.shape[0], hp, wp, *table.shape[2:]))
        start += hp * wp
    return maps


def _corner_weights(fx: Tensor, fy: Tensor, weight: Tensor, dim: int) -> Tensor:
    """Bilinear weights times ``weight`` of the corners (x0, y0), (x0 + 1, y0),
    (x0, y0 + 1), (x0 + 1, y0 + 1), stacked along ``dim``.

    Args:
        fx, fy: (...) fractional position inside the 2x2 neighbourhood.
        weight: (...) sample weight.
    """
    top, bottom = weight * (1 - fy), weight * fy
    return torch.stack([top * (1 - fx), top * fx, bottom * (1 - fx), bottom * fx], dim)


# (dy, dx) of the corners, in _corner_weights' order.
_CORNERS = ((0, 0), (0, 1), (1, 0), (1, 1))


class _BilinearGatherSum(Function):
    """out[m] = sum over corners k and samples j of
    corner_weight[m, k, j] * padded_value_row[key[m, j] + offsets[k, j]].

    Autograd's own embedding_bag backward would sort all M * L * P * 4 corner
    rows to reduce the value gradient; here one sort of the M * L * P
    top-left keys serves all four corners, and the gradients of the
    fractional positions and weights follow from per-corner dot products.
    """

    @staticmethod
    def forward(ctx, value: Tensor, sizes: List[Tuple[int, int]], key: Tensor, offsets: Tensor,
                fx: Tensor, fy: Tensor, weight: Tensor) -> Tensor:
        """value (B, S, N, Cn); key (M, L*P) integer top-left rows of the padded
        table; offsets (4, L*P) corner offsets, same dtype; fx, fy, weight
        (M, L*P) -> (M, Cn)."""
        b, _, n, cn = value.shape
        rows = value.new_zeros(b, sum(_padded_areas(sizes)), n, cn)
        for padded, level in zip(_level_maps(rows, sizes, 1),
                                 _level_maps(value.contiguous(), sizes, 0)):
            padded[:, 1:-1, 1:-1] = level
        rows = rows.view(-1, cn)
        ctx.sizes, ctx.value_shape = sizes, value.shape
        ctx.save_for_backward(rows, key, offsets, fx, fy, weight)
        return F.embedding_bag(_corner_rows(key, offsets), rows,
                               per_sample_weights=_corner_weights(fx, fy, weight, 1).flatten(1),
                               mode='sum')

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        rows, key, offsets, fx, fy, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_value = grad_fx = grad_fy = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_value = _scatter_to_value(grad_out, key, fx, fy, weight, ctx.sizes,
                                           ctx.value_shape)
        if any(ctx.needs_input_grad[4:]):
            dots = _row_dots(grad_out, rows, _corner_rows(key, offsets))
            d00, d10, d01, d11 = dots.view(key.shape[0], 4, -1).unbind(1)
            top, bottom = torch.lerp(d00, d10, fx), torch.lerp(d01, d11, fx)
            grad_weight = torch.lerp(top, bottom, fy)
            grad_fx = torch.lerp(d10 - d00, d11 - d01, fy) * weight
            grad_fy = (bottom - top) * weight
        return grad_value, None, None, None, grad_fx, grad_fy, grad_weight


def _corner_rows(key: Tensor, offsets: Tensor) -> Tensor:
    """(M, L*P) top-left rows -> (M, 4 * L*P) rows of all corners, corner-major
    within each output row (the order inside a bag does not matter)."""
    return (key.unsqueeze(1) + offsets).flatten(1)


def _row_dots(grad_out: Tensor, rows: Tensor, index: Tensor) -> Tensor:
    """(M, K) dot products grad_out[m] . rows[index[m, k]].

    Computed in chunks of about 2**19 gathered elements, which stay in cache
    and bound the memory to a few MB instead of M * K * Cn.
    """
    m, k = index.shape
    dots = grad_out.new_empty(m, k)
    chunk = max(1, 2 ** 19 // (k * rows.shape[1]))
    for i in range(0, m, chunk):
        gathered = rows.index_select(0, index[i:i + chunk].flatten()).view(-1, k, rows.shape[1])
        torch.sum(gathered * grad_out[i:i + chunk, None], -1, out=dots[i:i + chunk])
    return dots


def _scatter_to_value(grad_out: Tensor, key: Tensor, fx: Tensor, fy: Tensor, weight: Tensor,
                      sizes: List[Tuple[int, int]], value_shape: torch.Size) -> Tensor:
    """Transpose of the forward gather: the value gradient.

    For each corner, one ``embedding_bag`` over the samples sorted by key sums
    corner weight * grad_out into the row of the sample's top-left corner;
    shifting that map by the corner's (dy, dx) and dropping the padding gives
    the corner's share of the value gradient.

    Args:
        grad_out: (M, Cn).
        key: (M, L*P) top-left rows of the padded table.
        fx, fy, weight: (M, L*P).
        sizes: (H_l, W_l) per level.
        value_shape: (B, S, N, Cn).

    Returns:
        (B, S, N, Cn).
    """
    b, _, n, cn = value_shape
    padded_len = sum(_padded_areas(sizes))
    samples_per_row = key.shape[1]
    sorted_key, order = key.flatten().sort()
    counts = torch.bincount(sorted_key, minlength=b * padded_len * n)
    bag_starts = counts.cumsum(0) - counts
    source = order // samples_per_row
    corner_weight = _corner_weights(*(t.flatten().index_select(0, order) for t in (fx, fy, weight)),
                                    dim=0)
    corner_maps = [  # [corner][level] (B, H_l + 2, W_l + 2, N, Cn)
        _level_maps(F.embedding_bag(source, grad_out, bag_starts, per_sample_weights=weights,
                                    mode='sum').view(b, padded_len, n, cn), sizes, 1)
        for weights in corner_weight]
    grad = grad_out.new_empty(value_shape)
    for level, (target, (h, w)) in enumerate(zip(_level_maps(grad, sizes, 0), sizes)):
        shifted = [maps[level][:, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]
                   for maps, (dy, dx) in zip(corner_maps, _CORNERS)]
        target.copy_(shifted[0])
        for part in shifted[1:]:
            target.add_(part)
    return grad


def _padded_areas(sizes: List[Tuple[int, int]]) -> List[int]:
    """Number of positions of each level once padded by one pixel."""
    return [(h + 2) * (w + 2) for h, w in sizes]


@MODELS.register_module()
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
        self.init_weights()

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
                spatial_shapes: Tensor, level_start_index: Tensor,
                value_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Attend from every query to P points per head around its reference.

        Args:
            query: (B, Q, C) queries (position embedding already added).
            reference_points: (B, Q, L, 2) normalised (x, y) per level.
            value: (B, S, C) flattened multi-level features.
            spatial_shapes: (L, 2) integer (H_l, W_l).
            level_start_index: (L,) offset of each level in S.
            value_padding_mask: (B, S) bool, True at padded positions, or None.

        Returns:
            (B, Q, C) attended features (no residual).
        """
        b, q, _ = query.shape
        n, lvl, p = self.num_heads, self.num_levels, self.num_points
        value = self.value_proj(value)
        if value_padding_mask is not None:
            value = value.masked_fill(value_padding_mask.unsqueeze(-1), 0.0)
        value = value.view(b, value.shape[1], n, -1)
        offsets = self.sampling_offsets(query).view(b, q, n, lvl, p, 2)
        weights = self.attention_weights(query).view(b, q, n, lvl * p).softmax(-1)
        wh = spatial_shapes.flip(-1).to(offsets.dtype)  # (L, 2) as (W, H)
        locations = reference_points[:, :, None, :, None, :] + offsets / wh[:, None, :]
        out = multi_scale_deformable_attention(value, spatial_shapes, level_start_index,
                                               locations, weights.view(b, q, n, lvl, p),
                                               self.im2col_step)
        return self.output_proj(out.to(query.dtype))

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'num_levels={self.num_levels}, num_points={self.num_points}')
