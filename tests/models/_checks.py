"""Checks shared by the model tests."""
import torch
from torch import Tensor, nn


def assert_gradients_reach_every_parameter(module: nn.Module, outputs: list[Tensor]) -> None:
    """Backpropagate random projections of ``outputs``; every parameter gets a finite,
    nonzero gradient (a plain sum is blind to parameters before a norm)."""
    gen = torch.Generator().manual_seed(1)
    loss = sum((t * torch.randn(t.shape, generator=gen)).sum() for t in outputs)
    loss.backward()
    for name, param in module.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all() and param.grad.any(), name
