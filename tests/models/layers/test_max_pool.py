"""MaxPool2d equals nn.MaxPool2d; its CPU inference pools a channels-last copy."""
import pytest
import torch
from torch import nn

from m2f_mm.models.layers import max_pool
from m2f_mm.models.layers.max_pool import MaxPool2d, use_channels_last_max_pool


def _spy_formats(monkeypatch):
    formats = []
    pool = max_pool.F.max_pool2d

    def spy(x, *args, **kwargs):
        formats.append(x.is_contiguous(memory_format=torch.channels_last))
        return pool(x, *args, **kwargs)
    monkeypatch.setattr(max_pool.F, 'max_pool2d', spy)
    return formats


@pytest.mark.parametrize('kwargs', [dict(kernel_size=3, stride=2, padding=1),
                                    dict(kernel_size=2, ceil_mode=True),
                                    dict(kernel_size=3, stride=1, dilation=2)])
@pytest.mark.parametrize('grad', [False, True])
def test_equals_nn_max_pool(kwargs, grad, monkeypatch):
    torch.manual_seed(0)
    # ReLU outputs: many ties, where the argmax kernel picks one input.
    x = torch.randn(2, 5, 11, 9).relu().round()
    grad_out = None
    results = []
    for pool in (nn.MaxPool2d(**kwargs), MaxPool2d(**kwargs)):
        formats = _spy_formats(monkeypatch) if type(pool) is MaxPool2d else None
        inputs = x.clone().requires_grad_(grad)
        out = pool(inputs)
        assert out.is_contiguous()
        if grad:
            grad_out = torch.randn_like(out) if grad_out is None else grad_out
            out.backward(grad_out)
        results.append((out, inputs.grad))
    assert torch.equal(results[0][0], results[1][0])
    if grad:
        assert torch.equal(results[0][1], results[1][1])
    # Channels-last only where no gradient is routed.
    assert formats == [not grad]


def test_swap_leaves_others_alone():
    module = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Conv2d(1, 1, 1))
    assert use_channels_last_max_pool(module) == 1
    assert type(module[0]) is MaxPool2d and type(module[1]) is nn.AvgPool2d
