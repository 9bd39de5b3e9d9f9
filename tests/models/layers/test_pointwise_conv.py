"""Conv2d's matrix-product path for 1x1 kernels equals nn.Conv2d forward and backward,
for plain and channels-last inputs (PixelMajorConv2d's too, stored channels-last), and
use_pointwise_conv turns a network's plain convolutions into it."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope, MODELS
from torch import nn
from torch.nn.modules import conv as torch_conv

from m2f_mm.models.layers.pointwise_conv import Conv2d, PixelMajorConv2d, use_pointwise_conv


def _forbid_convolution(monkeypatch):
    def convolution(*args, **kwargs):
        raise AssertionError('a 1x1 kernel ran as a convolution')
    monkeypatch.setattr(torch_conv.F, 'conv2d', convolution)


@pytest.mark.parametrize('kwargs,pointwise', [
    (dict(kernel_size=1), True), (dict(kernel_size=1, bias=False), True),
    (dict(kernel_size=1, stride=2), True), (dict(kernel_size=1, stride=(2, 3)), True),
    (dict(kernel_size=3, padding=1), False), (dict(kernel_size=1, padding=1), False)])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('conv_type', [Conv2d, PixelMajorConv2d])
def test_matches_nn_conv2d(kwargs, pointwise, conv_type, channels_last, monkeypatch):
    torch.manual_seed(0)
    reference = nn.Conv2d(5, 7, **kwargs).double()
    ours = conv_type(5, 7, **kwargs).double()
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(2, 5, 6, 9, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    results = []
    for conv in (reference, ours):
        if conv is ours and pointwise:
            _forbid_convolution(monkeypatch)
        inputs = x.clone().requires_grad_()
        out = conv(inputs)
        if conv is ours:  # a channels-last input gives a channels-last output, as in torch
            pixel_major = channels_last or (pointwise and conv_type is PixelMajorConv2d)
            assert out.is_contiguous(memory_format=torch.channels_last) == pixel_major
            assert out.is_contiguous() != pixel_major
        out.backward(torch.ones_like(out).cumsum(-1))
        results.append([out, inputs.grad] + [p.grad for p in conv.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_in_place_op_on_output_copies_no_gradient():
    """A ResNet adds its residual and applies ReLU in place on a convolution's output:
    on the 1x1 product's output that gives nn.Conv2d's gradients, with no CopySlices
    node (a full copy of the gradient in backward) in the graph."""
    torch.manual_seed(0)
    reference = nn.Conv2d(5, 7, 1).double()
    ours = Conv2d(5, 7, 1).double()
    ours.load_state_dict(reference.state_dict())
    x, residual = torch.randn(2, 5, 6, 9, dtype=torch.float64), torch.randn(2, 7, 6, 9)
    results = []
    for conv in (reference, ours):
        inputs = x.clone().requires_grad_()
        out = conv(inputs)
        out += residual
        out = out.relu_()
        assert type(out.grad_fn).__name__ == 'ReluBackward0'
        assert type(out.grad_fn.next_functions[0][0]).__name__ == 'AddBackward0'
        out.backward(torch.ones_like(out).cumsum(-1))
        results.append([out, inputs.grad] + [p.grad for p in conv.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_keeps_nn_conv2d_keys():
    assert list(Conv2d(3, 4, 1).state_dict()) == list(nn.Conv2d(3, 4, 1).state_dict())


def test_mmdet_resnet_with_pointwise_convs():
    import mmdet.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MODELS.build(dict(type='ResNet', depth=50, base_channels=8,
                                      norm_cfg=dict(type='BN', requires_grad=False)))
    reference.double().eval()
    ours = copy.deepcopy(reference)
    keys, params = list(ours.state_dict()), [id(p) for p in ours.parameters()]
    # 1 stem + 16 blocks of 3 + 4 downsamples: all plain nn.Conv2d.
    assert use_pointwise_conv(ours) == 53
    assert all(type(m) is not nn.Conv2d for m in ours.modules())
    assert list(ours.state_dict()) == keys and [id(p) for p in ours.parameters()] == params
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    outs = [m(x) for m in (ours, reference)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    for out in outs:
        sum(o.sum() for o in out).backward()
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-8, rtol=1e-10, msg=name)


def test_convolution_subclasses_are_left_alone():
    class Custom(nn.Conv2d):
        pass
    module = nn.Sequential(Custom(2, 2, 1), nn.Conv2d(2, 2, 1))
    assert use_pointwise_conv(module) == 1
    assert type(module[0]) is Custom and type(module[1]) is Conv2d


def test_other_devices_run_the_convolution(monkeypatch):
    calls = []
    convolution = torch_conv.F.conv2d
    monkeypatch.setattr(torch_conv.F, 'conv2d',
                        lambda *a, **k: calls.append(1) or convolution(*a, **k))
    out = Conv2d(5, 7, 1, device='meta')(torch.empty(2, 5, 6, 9, device='meta'))
    assert calls == [1] and out.shape == (2, 7, 6, 9)
