"""Operators: multi-scale deformable attention and its CPU and GPU paths."""
from .ms_deform_attn import (CUDA_KERNELS, cuda_kernel, kernel_name,
                             multi_scale_deformable_attention)

__all__ = ['multi_scale_deformable_attention', 'CUDA_KERNELS', 'cuda_kernel', 'kernel_name']
