"""Conv2d's matrix-product path for 1x1 kernels equals nn.Conv2d forward and backward."""
import pytest
import torch
from torch import nn

from m2f_mm.models.layers.pointwise_conv import Conv2d


@pytest.mark.parametrize('kwargs', [dict(kernel_size=1), dict(kernel_size=1, bias=False),
                                    dict(kernel_size=3, padding=1), dict(kernel_size=1, stride=2),
                                    dict(kernel_size=1, padding=1)])
def test_matches_nn_conv2d(kwargs):
    torch.manual_seed(0)
    reference = nn.Conv2d(5, 7, **kwargs).double()
    ours = Conv2d(5, 7, **kwargs).double()
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 5, 6, 9, dtype=torch.float64)
    results = []
    for conv in (reference, ours):
        inputs = x.clone().requires_grad_()
        out = conv(inputs)
        out.backward(torch.ones_like(out).cumsum(-1))
        results.append([out, inputs.grad] + [p.grad for p in conv.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_keeps_nn_conv2d_keys():
    assert list(Conv2d(3, 4, 1).state_dict()) == list(nn.Conv2d(3, 4, 1).state_dict())
