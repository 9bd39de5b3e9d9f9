"""The exact PyTorch path of multi-scale deformable attention (CPU, or CUDA
without a compiled kernel).

Shape letters as in :mod:`m2f_mm.ops.ms_deform_attn`, plus M = B * Q * N (one
output row per query and head) and R = B * N * sum_l (H_l + 2) * (W_l + 2)
rows of the zero-padded value table.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import Function, once_differentiable

__all__ = ['ms_deform_attn_pytorch']

_INT32_MAX_ROWS = 2 ** 31 - 1


def ms_deform_attn_pytorch(value: Tensor, spatial_shapes: Tensor,
                            sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
    """Exact PyTorch version of :func:`m2f_mm.ops.multi_scale_deformable_attention`
    (float32 or float64 inputs, same shapes; ``level_start_index`` is derived).

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
