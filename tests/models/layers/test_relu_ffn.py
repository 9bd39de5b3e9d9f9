"""relu_ffn equals linear2(relu(linear1(x))) forward and backward, in one block of the
hidden gradient or several, and refuses a second backward through its consumed activation."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m2f_mm.models.layers import relu_ffn as relu_ffn_module
from m2f_mm.models.layers.relu_ffn import relu_ffn


def _block(bias: bool) -> tuple:
    torch.manual_seed(0)
    return (nn.Linear(6, 10, bias=bias).double(), nn.Linear(10, 4, bias=bias).double())


def _grads(fn, x, modules, grad):
    x = x.clone().requires_grad_()
    for m in modules:
        m.zero_grad()
    out = fn(x)
    out.backward(grad)
    return [out, x.grad] + [p.grad.clone() for m in modules for p in m.parameters()]


# 3 hidden rows of 10 float64 a block: 30 rows as 10 blocks, then 30 = 7 * 4 + 2.
@pytest.mark.parametrize('block_bytes', [8 << 20, 3 * 10 * 8, 4 * 10 * 8])
@pytest.mark.parametrize('bias', [True, False])
def test_matches_composition(bias, block_bytes, monkeypatch):
    monkeypatch.setattr(relu_ffn_module, '_BLOCK_BYTES', block_bytes)
    linear1, linear2 = _block(bias)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 6, generator=g, dtype=torch.float64)
    # Exact zeros before the ReLU: its derivative there is 0, as torch's.
    if bias:
        linear1.bias.data.zero_()
    x[0, 0, 0] = 0
    grad = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64)
    ours = _grads(lambda t: relu_ffn(t, linear1, linear2), x, (linear1, linear2), grad)
    theirs = _grads(lambda t: linear2(F.relu(linear1(t))), x, (linear1, linear2), grad)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_only_requested_gradients_and_autocast_off():
    linear1, linear2 = _block(True)
    linear1.float(), linear2.float()
    linear1.requires_grad_(False)
    x = torch.randn(7, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = relu_ffn(x, linear1, linear2)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert linear1.weight.grad is None and linear2.weight.grad is not None
    torch.testing.assert_close(out, linear2(F.relu(linear1(x))), rtol=0, atol=0)


def test_second_backward_through_the_same_graph_is_an_error():
    linear1, linear2 = _block(True)
    out = relu_ffn(torch.randn(5, 6, dtype=torch.float64, requires_grad=True), linear1, linear2)
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='modified by an inplace operation'):
        out.sum().backward()
