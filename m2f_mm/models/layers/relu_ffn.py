"""The ReLU feed-forward block ``linear2(relu(linear1(x)))`` with a lean hidden activation.

Shape letters: T tokens (the leading dimensions of the input, flattened), C
input channels, F hidden channels, O output channels.

The hidden activation (T, F) is the largest tensor of the deformable encoder:
44 MB a layer for two 512 x 512 images. Composed from autograd's ops it is
allocated four times a layer: the linear output, the ReLU output and both
their gradients. Here it is allocated once: the ReLU runs in place on the
linear output, and the backward writes the hidden gradient over the saved
activation block by block, once the activation's own product is done (only
its sign is read after that). On CPU each allocation of that size is a fresh
mapping whose pages the kernel faults in and zeroes, so the allocations saved
are time as well as traffic; the blocks stay in cache between the product and
the ReLU's mask. The arithmetic is the composition's. Because the backward
consumes the saved activation, a second backward through the same graph
(``retain_graph=True``) is an error, as for any tensor changed in place.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import Function, once_differentiable

__all__ = ['relu_ffn']

# Size of one block of the hidden gradient: its rows are masked while in cache.
_BLOCK_BYTES = 8 << 20


def relu_ffn(x: Tensor, linear1: nn.Linear, linear2: nn.Linear) -> Tensor:
    """``linear2(relu(linear1(x)))`` in ``x``'s dtype with autocast off.

    Args:
        x: (..., C).
        linear1: C -> F.
        linear2: F -> O.

    Returns:
        (..., O).
    """
    params = [p if p is None else p.to(x.dtype)
              for p in (linear1.weight, linear1.bias, linear2.weight, linear2.bias)]
    with torch.autocast(x.device.type, enabled=False):
        return _ReLUFFN.apply(x, *params)


class _ReLUFFN(Function):

    @staticmethod
    def forward(ctx, x: Tensor, weight1: Tensor, bias1: Optional[Tensor], weight2: Tensor,
                bias2: Optional[Tensor]) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])  # (T, C)
        hidden = F.linear(flat, weight1, bias1).relu_()  # (T, F)
        ctx.save_for_backward(flat, hidden, weight1, weight2)
        ctx.input_shape = x.shape
        return F.linear(hidden, weight2, bias2).view(*x.shape[:-1], -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple:
        flat, hidden, weight1, weight2 = ctx.saved_tensors
        needs_x, needs_w1, needs_b1, needs_w2, needs_b2 = ctx.needs_input_grad
        grad = grad.reshape(-1, grad.shape[-1])  # (T, O)
        grad_w2 = grad.t() @ hidden if needs_w2 else None
        grad_b2 = grad.sum(0) if needs_b2 else None
        grad_x = grad_w1 = grad_b1 = None
        if needs_x or needs_w1 or needs_b1:
            rows = max(1, _BLOCK_BYTES // (hidden.shape[1] * hidden.element_size()))
            for start in range(0, hidden.shape[0], rows):
                block = hidden[start:start + rows]
                # ReLU's derivative written over the block in one pass (masked_fill_
                # first writes a mask and is about 8 times slower at this size).
                torch.ops.aten.threshold_backward.grad_input(grad[start:start + rows] @ weight2,
                                                              block, 0, grad_input=block)
            grad_hidden = hidden
            grad_x = (grad_hidden @ weight1).view(ctx.input_shape) if needs_x else None
            grad_w1 = grad_hidden.t() @ flat if needs_w1 else None
            grad_b1 = grad_hidden.sum(0) if needs_b1 else None
        return grad_x, grad_w1, grad_b1, grad_w2, grad_b2
