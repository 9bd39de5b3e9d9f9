"""Mixed precision on the CPU.

mmengine's AmpOptimWrapper (fp16 with a loss scaler) asserts a CUDA, NPU or
MLU device. :class:`AutocastOptimWrapper` runs the forward pass under
``torch.autocast`` on any device, without a loss scaler, which bfloat16's
float32-sized exponent does not need. Parts that must stay in float32 (the
pixel decoder with its deformable attention, the matcher and the losses)
disable autocast or cast themselves.
"""
import contextlib
from typing import Iterator

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from m2f_mm.registry import OPTIM_WRAPPERS

__all__ = ['AutocastOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """OptimWrapper whose forward runs under ``torch.autocast`` on the model's device.

    Args:
        dtype: ``'bfloat16'`` (default) or another autocast dtype of the device.
        **kwargs: OptimWrapper's arguments.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device, dtype=self.cast_dtype):
            yield
