"""The compiled CPU kernel of multi-scale deformable attention (``csrc/``), as an autograd op.

Shape letters as in :mod:`m2f_mm.ops.ms_deform_attn`.

The kernel is built by ``setup.py`` against the installed torch. It computes
the exact PyTorch path's function (:mod:`m2f_mm.ops.ms_deform_attn_pytorch`)
in one pass per direction, which reads each sample's four corner rows once
instead of gathering them all into memory.
"""
import functools
from typing import Optional

from torch import Tensor
from torch.autograd.function import Function, once_differentiable

__all__ = ['cpu_kernel_module', 'CpuMSDeformAttnFunction']


@functools.lru_cache(maxsize=None)
def cpu_kernel_module() -> Optional[object]:
    """The compiled extension, or None where m2f_mm was not built with it
    (e.g. run from a source tree that was never installed)."""
    try:
        from . import _ms_deform_attn_cpu
    except ImportError:
        return None
    return _ms_deform_attn_cpu


class CpuMSDeformAttnFunction(Function):
    """value (B, S, N, Cn), spatial_shapes (L, 2), level_start_index (L,),
    sampling_locations (B, Q, N, L, P, 2), attention_weights (B, Q, N, L, P),
    all contiguous, one float dtype -> (B, Q, N * Cn)."""

    @staticmethod
    def forward(ctx, value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
        ctx.save_for_backward(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights)
        return cpu_kernel_module().forward(value, spatial_shapes, level_start_index,
                                           sampling_locations, attention_weights)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor) -> tuple:
        grads = cpu_kernel_module().backward(*ctx.saved_tensors, grad_out.contiguous())
        grad_value, grad_locations, grad_weights = grads
        return grad_value, None, None, grad_locations, grad_weights
