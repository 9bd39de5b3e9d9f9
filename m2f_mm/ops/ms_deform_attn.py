"""Multi-scale deformable attention (Zhu et al., "Deformable DETR", ICLR 2021): the op.

The one place that chooses how the op runs: during ONNX export, the
``grid_sample`` path (exportable, for export only); otherwise CUDA inputs use
the first installed kernel of :data:`CUDA_KERNELS` (mmcv's compiled op, then
m2f_mm's Triton kernel), CPU inputs use m2f_mm's compiled CPU kernel, and
inputs with no such kernel installed use the exact PyTorch path. All paths
compute the same function.

Shape letters: B batch, Q queries, S = sum over levels of H_l * W_l value
positions, N heads, Cn channels per head, L levels, P sampling points per head
and level.

Sampling locations are normalised (x, y) in [0, 1] over each level, with pixel
centres at ((x + 0.5) / W, (y + 0.5) / H): bilinear sampling with zero padding
and ``align_corners=False``, as in mmcv's CUDA kernel.
"""
import functools
import importlib.util
from typing import Callable, Optional

import torch
from torch import Tensor

from .ms_deform_attn_cpu import CpuMSDeformAttnFunction, cpu_kernel_module
from .ms_deform_attn_grid_sample import ms_deform_attn_grid_sample
from .ms_deform_attn_pytorch import ms_deform_attn_pytorch

__all__ = ['multi_scale_deformable_attention', 'CUDA_KERNELS', 'cuda_kernel', 'kernel_name']


def multi_scale_deformable_attention(value: Tensor, spatial_shapes: Tensor,
                                     level_start_index: Tensor,
                                     sampling_locations: Tensor,
                                     attention_weights: Tensor,
                                     im2col_step: int = 64) -> Tensor:
    """Weighted sum of bilinear samples of a multi-level value map.

    Under ``torch.onnx.export`` the exportable ``grid_sample`` path runs. Else
    CUDA inputs use the first available kernel of :data:`CUDA_KERNELS` and CPU
    inputs the compiled CPU kernel; where none is installed, an exact PyTorch
    implementation runs. Half-precision inputs and autocast regions are computed in
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
        if torch.onnx.is_in_onnx_export():
            return ms_deform_attn_grid_sample(value, spatial_shapes, level_start_index,
                                              sampling_locations, attention_weights)
        if value.is_cuda:
            kernel = _first_cuda_kernel()
            if kernel is not None:
                return kernel(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights, im2col_step)
        elif cpu_kernel_module() is not None:
            return CpuMSDeformAttnFunction.apply(value, spatial_shapes, level_start_index,
                                                 sampling_locations, attention_weights)
        return ms_deform_attn_pytorch(value, spatial_shapes, sampling_locations,
                                       attention_weights)


def kernel_name(device: str) -> str:
    """Which path the op takes for inputs on ``device`` (for logs and benchmarks)."""
    if device.startswith('cuda'):
        names = [n for n in CUDA_KERNELS if cuda_kernel(n)]
        return f'{names[0]} kernel' if names else 'exact PyTorch path (no CUDA kernel installed)'
    module = cpu_kernel_module()
    if module is None:
        return 'exact PyTorch path (m2f_mm was installed without its C++ CPU kernel)'
    return f'C++ CPU kernel ({"AVX2" if module.avx2_supported() else "baseline"})'


# CUDA kernels in order of preference: mmcv's compiled op first, being proven on GPUs;
# m2f_mm's Triton kernel serves where mmcv was built without CUDA (e.g. a CUDA that
# mmcv 2.1.0 does not compile for). Revisit the order once both are timed on a GPU.
CUDA_KERNELS = ('mmcv', 'triton')

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
