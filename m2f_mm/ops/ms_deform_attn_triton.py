"""Multi-scale deformable attention as Triton kernels: m2f_mm's own GPU path.

Shape letters as in :mod:`ms_deform_attn`: B batch, Q queries, S value
positions of all levels, N heads, Cn channels per head, L levels, P points;
M = B * Q * N output rows, one per query and head.

Each program owns BLOCK_M rows and all Cn channels of their head. It walks the
L * P samples of its rows and, per sample, the four bilinear corners; a corner
outside its level reads zero, as in mmcv's kernel and the exact PyTorch path.
The backward pass recomputes the corner reads: the location and weight
gradients are per-sample dot products over the Cn channels a program holds,
and the value gradient is scattered with atomic adds (so its summation order,
like mmcv's, is not deterministic).

Sampling locations are normalised (x, y) in [0, 1]; pixel (i, j) of an H x W
level has its centre at ((j + 0.5) / W, (i + 0.5) / H).
"""
import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import Function, once_differentiable

__all__ = ['TritonMSDeformAttnFunction']

# Rows per program: 64 x Cn (32 in the R50 model) elements keep four warps busy
# without spilling the accumulator.
_BLOCK_M = 64


@triton.jit
def _inside(xi, yi, width, height):
    """(BLOCK_M,) whether integer pixel (xi, yi) lies inside a width x height level."""
    return (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)


@triton.jit
def _corners(value, row_base, start, x0, y0, width, height, row_ok, chan, chan_ok,
             HEADS: tl.constexpr, CHANNELS: tl.constexpr):
    """Read the four bilinear corners (x0, y0), (x0 + 1, y0), (x0, y0 + 1) and
    (x0 + 1, y0 + 1) of each row's sample: (BLOCK_M, BLOCK_C) values each, zero
    outside the level.

    Also returns the offsets into ``value`` of the (x0, y0) corner (the others
    follow at fixed strides) and the mask of valid rows and channels.
    """
    position = (start + y0 * width + x0).to(tl.int64)
    offsets = ((row_base + position * HEADS) * CHANNELS)[:, None] + chan[None, :]
    mask = row_ok[:, None] & chan_ok[None, :]
    step = HEADS * CHANNELS
    row_stride = width * HEADS * CHANNELS
    v00 = tl.load(value + offsets, mask=mask & _inside(x0, y0, width, height)[:, None],
                  other=0.0)
    v10 = tl.load(value + offsets + step,
                  mask=mask & _inside(x0 + 1, y0, width, height)[:, None], other=0.0)
    v01 = tl.load(value + offsets + row_stride,
                  mask=mask & _inside(x0, y0 + 1, width, height)[:, None], other=0.0)
    v11 = tl.load(value + offsets + row_stride + step,
                  mask=mask & _inside(x0 + 1, y0 + 1, width, height)[:, None], other=0.0)
    return v00, v10, v01, v11, offsets, mask


@triton.jit
def _sample_geometry(loc, attn, shapes, starts, rows, row_ok, level, k,
                     SAMPLES: tl.constexpr):
    """Pixel position, fractional offsets and weight of sample k of each row."""
    height = tl.load(shapes + 2 * level)
    width = tl.load(shapes + 2 * level + 1)
    start = tl.load(starts + level)
    sample = rows * SAMPLES + k
    x = tl.load(loc + 2 * sample, mask=row_ok, other=0.0) * width - 0.5
    y = tl.load(loc + 2 * sample + 1, mask=row_ok, other=0.0) * height - 0.5
    a = tl.load(attn + sample, mask=row_ok, other=0.0)
    x0 = tl.floor(x)
    y0 = tl.floor(y)
    return (sample, width, height, start, x0.to(tl.int32), y0.to(tl.int32), x - x0, y - y0, a)


@triton.jit
def _rows(QUERIES_X_HEADS, value_len, num_rows, HEADS: tl.constexpr, BLOCK_M: tl.constexpr):
    """Row indices of this program, their validity, and each row's offset (in
    Cn-wide rows) of position 0 of its batch and head in ``value``."""
    rows = (tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)).to(tl.int64)
    row_ok = rows < num_rows
    row_base = (rows // QUERIES_X_HEADS) * value_len * HEADS + rows % HEADS
    return rows, row_ok, row_base


@triton.jit
def _forward_kernel(value, shapes, starts, loc, attn, out, num_rows, queries_x_heads, value_len,
                    HEADS: tl.constexpr, CHANNELS: tl.constexpr, BLOCK_C: tl.constexpr,
                    LEVELS: tl.constexpr, POINTS: tl.constexpr, BLOCK_M: tl.constexpr):
    rows, row_ok, row_base = _rows(queries_x_heads, value_len, num_rows, HEADS, BLOCK_M)
    chan = tl.arange(0, BLOCK_C)
    chan_ok = chan < CHANNELS
    acc = tl.zeros((BLOCK_M, BLOCK_C), dtype=value.dtype.element_ty)
    for level in tl.static_range(LEVELS):
        for point in tl.static_range(POINTS):
            _, w, h, start, x0, y0, fx, fy, a = _sample_geometry(
                loc, attn, shapes, starts, rows, row_ok, level, level * POINTS + point,
                LEVELS * POINTS)
            v00, v10, v01, v11, _, _ = _corners(value, row_base, start, x0, y0, w, h, row_ok,
                                                chan, chan_ok, HEADS, CHANNELS)
            top = v00 * (1 - fx)[:, None] + v10 * fx[:, None]
            bottom = v01 * (1 - fx)[:, None] + v11 * fx[:, None]
            acc += (top * (1 - fy)[:, None] + bottom * fy[:, None]) * a[:, None]
    tl.store(out + rows[:, None] * CHANNELS + chan[None, :], acc,
             mask=row_ok[:, None] & chan_ok[None, :])


@triton.jit
def _backward_kernel(value, shapes, starts, loc, attn, grad_out, grad_value, grad_loc, grad_attn,
                     num_rows, queries_x_heads, value_len,
                     HEADS: tl.constexpr, CHANNELS: tl.constexpr, BLOCK_C: tl.constexpr,
                     LEVELS: tl.constexpr, POINTS: tl.constexpr, BLOCK_M: tl.constexpr):
    rows, row_ok, row_base = _rows(queries_x_heads, value_len, num_rows, HEADS, BLOCK_M)
    chan = tl.arange(0, BLOCK_C)
    chan_ok = chan < CHANNELS
    g = tl.load(grad_out + rows[:, None] * CHANNELS + chan[None, :],
                mask=row_ok[:, None] & chan_ok[None, :], other=0.0)
    for level in tl.static_range(LEVELS):
        for point in tl.static_range(POINTS):
            sample, w, h, start, x0, y0, fx, fy, a = _sample_geometry(
                loc, attn, shapes, starts, rows, row_ok, level, level * POINTS + point,
                LEVELS * POINTS)
            v00, v10, v01, v11, offsets, mask = _corners(value, row_base, start, x0, y0, w, h,
                                                         row_ok, chan, chan_ok, HEADS, CHANNELS)
            # d_k = grad_out . corner k: the output's sensitivity to that corner's weight.
            d00 = tl.sum(g * v00, 1)
            d10 = tl.sum(g * v10, 1)
            d01 = tl.sum(g * v01, 1)
            d11 = tl.sum(g * v11, 1)
            top = d00 * (1 - fx) + d10 * fx
            bottom = d01 * (1 - fx) + d11 * fx
            tl.store(grad_attn + sample, top * (1 - fy) + bottom * fy, mask=row_ok)
            grad_x = a * ((d10 - d00) * (1 - fy) + (d11 - d01) * fy) * w
            grad_y = a * (bottom - top) * h
            tl.store(grad_loc + 2 * sample, grad_x, mask=row_ok)
            tl.store(grad_loc + 2 * sample + 1, grad_y, mask=row_ok)
            # Corner (dx, dy) sits at offsets + dx * HEADS * CHANNELS + dy * row_stride.
            row_stride = w * HEADS * CHANNELS
            step = HEADS * CHANNELS
            tl.atomic_add(grad_value + offsets, g * (a * (1 - fx) * (1 - fy))[:, None],
                          mask=mask & _inside(x0, y0, w, h)[:, None])
            tl.atomic_add(grad_value + offsets + step, g * (a * fx * (1 - fy))[:, None],
                          mask=mask & _inside(x0 + 1, y0, w, h)[:, None])
            tl.atomic_add(grad_value + offsets + row_stride, g * (a * (1 - fx) * fy)[:, None],
                          mask=mask & _inside(x0, y0 + 1, w, h)[:, None])
            tl.atomic_add(grad_value + offsets + row_stride + step, g * (a * fx * fy)[:, None],
                          mask=mask & _inside(x0 + 1, y0 + 1, w, h)[:, None])


def _launch_args(value: Tensor, sampling_locations: Tensor, block_m: int) -> tuple:
    """Grid, runtime sizes and compile-time constants shared by both kernels."""
    b, s, n, cn = value.shape
    _, q, _, num_levels, num_points, _ = sampling_locations.shape
    num_rows = b * q * n
    grid = (triton.cdiv(num_rows, block_m),)
    constants = dict(HEADS=n, CHANNELS=cn, BLOCK_C=triton.next_power_of_2(cn),
                     LEVELS=num_levels, POINTS=num_points, BLOCK_M=block_m)
    return grid, (num_rows, q * n, s), constants


class TritonMSDeformAttnFunction(Function):
    """Autograd function of the Triton kernels.

    ``apply(value, spatial_shapes, level_start_index, sampling_locations,
    attention_weights)`` with the shapes of
    :func:`m2f_mm.models.layers.ms_deform_attn.multi_scale_deformable_attention`;
    all floating inputs contiguous and of one dtype (float32 or float64).
    Returns (B, Q, N * Cn).
    """

    @staticmethod
    def forward(ctx, value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
        shapes = spatial_shapes.to(device=value.device, dtype=torch.int32).contiguous()
        starts = level_start_index.to(device=value.device, dtype=torch.int32).contiguous()
        b, _, n, cn = value.shape
        q = sampling_locations.shape[1]
        out = value.new_empty(b, q, n * cn)
        ctx.block_m = _BLOCK_M
        grid, sizes, constants = _launch_args(value, sampling_locations, ctx.block_m)
        _forward_kernel[grid](value, shapes, starts, sampling_locations, attention_weights, out,
                              *sizes, **constants)
        ctx.save_for_backward(value, shapes, starts, sampling_locations, attention_weights)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        value, shapes, starts, sampling_locations, attention_weights = ctx.saved_tensors
        grad_value = torch.zeros_like(value)
        grad_loc = torch.empty_like(sampling_locations)
        grad_attn = torch.empty_like(attention_weights)
        grid, sizes, constants = _launch_args(value, sampling_locations, ctx.block_m)
        _backward_kernel[grid](value, shapes, starts, sampling_locations, attention_weights,
                               grad_out.contiguous(), grad_value, grad_loc, grad_attn,
                               *sizes, **constants)
        return grad_value, None, None, grad_loc, grad_attn
