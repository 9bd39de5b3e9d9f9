"""FrozenBatchNorm2d against nn.BatchNorm2d: the frozen case computes the same
function and gradient without saving its input; every other case is BatchNorm's.
conv_then_norm folds the frozen case into the convolution before it."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope, MODELS
from torch import nn

from m2f_mm.models.layers.frozen_batch_norm import (FrozenBatchNorm2d, conv_then_norm,
                                                     use_frozen_batch_norm)
from m2f_mm.models.layers.pointwise_conv import Conv2d


def _batch_norm(channels=6, frozen=True):
    gen = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm2d(channels).double()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels, generator=gen))
        bn.running_var.copy_(torch.rand(channels, generator=gen) + 0.5)
        bn.weight.copy_(torch.randn(channels, generator=gen))
        bn.bias.copy_(torch.randn(channels, generator=gen))
    if frozen:
        bn.eval().requires_grad_(False)
    return bn


def _run(module, x, grad):
    x = x.detach().requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t,
                                                  lambda t: t):
        out = module(x)
    out.backward(grad)
    return out, x.grad, saved


def test_frozen_case_equals_batch_norm_and_saves_no_activation():
    reference = _batch_norm()
    ours = copy.deepcopy(reference)
    assert use_frozen_batch_norm(ours) == 1 and type(ours) is FrozenBatchNorm2d
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    grad = torch.randn_like(x)
    out, grad_x, saved = _run(ours, x, grad)
    expected, expected_grad, expected_saved = _run(reference, x, grad)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(grad_x, expected_grad, atol=1e-12, rtol=0)
    assert max(expected_saved) == x.numel()  # BatchNorm keeps its input
    assert max(saved) == 6  # here only the per-channel scale


@pytest.mark.parametrize('case', ['training', 'trainable affine', 'bfloat16 input',
                                  'no gradient'])
def test_other_cases_are_batch_norms_forward(case):
    reference = _batch_norm(frozen=case != 'trainable affine')
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    if case == 'training':
        reference.train()
    if case == 'trainable affine':
        reference.eval()
    if case == 'bfloat16 input':
        reference.float()
        x = x.bfloat16()
    ours = copy.deepcopy(reference)
    use_frozen_batch_norm(ours)
    # Inference: nothing to save, and batch_norm's kernel is the faster.
    with torch.set_grad_enabled(case != 'no gradient'):
        assert torch.equal(ours(x.requires_grad_()), reference(x))
    # Training updated both layers' running statistics alike.
    assert torch.equal(ours.running_mean, reference.running_mean)


def test_mmdet_resnet_with_frozen_norms():
    import mmdet.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MODELS.build(dict(type='ResNet', depth=18, norm_eval=True,
                                      norm_cfg=dict(type='BN', requires_grad=False)))
    reference.double().train()  # norm_eval puts the BatchNorms in eval mode
    ours = copy.deepcopy(reference)
    keys, params = list(ours.state_dict()), [id(p) for p in ours.parameters()]
    assert use_frozen_batch_norm(ours) == sum(
        isinstance(m, nn.BatchNorm2d) for m in reference.modules()) > 0
    ours.train()
    assert list(ours.state_dict()) == keys and [id(p) for p in ours.parameters()] == params
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    outs = [m(x.clone().requires_grad_()) for m in (ours, reference)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    for m, out in zip((ours, reference), outs):
        sum(o.sum() for o in out).backward()
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        if a.requires_grad:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-8, rtol=1e-10, msg=name)


def test_sync_batch_norm_is_left_alone():
    module = nn.Sequential(nn.SyncBatchNorm(4), nn.BatchNorm2d(4))
    assert use_frozen_batch_norm(module) == 1
    assert type(module[0]) is nn.SyncBatchNorm and type(module[1]) is FrozenBatchNorm2d


def _conv(conv_type=nn.Conv2d, bias=True, **kwargs):
    torch.manual_seed(1)
    return conv_type(4, 6, bias=bias, **kwargs).double()


@pytest.mark.parametrize('conv_kwargs', [dict(kernel_size=3, padding=1),
                                         dict(kernel_size=1, stride=2, bias=False),
                                         dict(conv_type=Conv2d, kernel_size=1)])
def test_conv_then_frozen_norm_is_one_convolution(conv_kwargs, monkeypatch):
    conv, norm = _conv(**conv_kwargs), _batch_norm()
    use_frozen_batch_norm(norm)
    x = torch.randn(2, 4, 6, 8, dtype=torch.float64)
    grad = torch.randn_like(norm(conv(x)))
    expected, expected_grads = _conv_norm_grads(lambda x: norm(conv(x)), conv, x, grad)
    monkeypatch.setattr(FrozenBatchNorm2d, 'forward', None)  # the norm must not run
    out, grads = _conv_norm_grads(lambda x: conv_then_norm(conv, norm, x), conv, x, grad)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)


def _conv_norm_grads(run, conv, x, grad):
    conv.zero_grad()
    x = x.clone().requires_grad_()
    out = run(x)
    out.backward(grad)
    return out, [x.grad] + [p.grad.clone() for p in conv.parameters()]


class _PaddedConv(nn.Conv2d):
    def forward(self, x):
        return super().forward(nn.functional.pad(x, (1, 1, 1, 1)))


@pytest.mark.parametrize('case', ['training norm', 'plain BatchNorm', 'conv with own forward',
                                  'autocast'])
def test_conv_then_norm_runs_both_layers_otherwise(case, monkeypatch):
    conv = _conv(_PaddedConv if case == 'conv with own forward' else nn.Conv2d, kernel_size=3)
    norm = _batch_norm()
    if case != 'plain BatchNorm':
        use_frozen_batch_norm(norm)
    if case == 'training norm':
        norm.train()
    x = torch.randn(2, 4, 6, 8, dtype=torch.float64)
    with torch.autocast('cpu', enabled=case == 'autocast'):
        expected = copy.deepcopy(norm)(conv(x))
    calls = []
    monkeypatch.setattr(type(norm), 'forward',
                        lambda self, x, f=type(norm).forward: calls.append(1) or f(self, x))
    with torch.autocast('cpu', enabled=case == 'autocast'):
        out = conv_then_norm(conv, norm, x)
    assert calls == [1] and torch.equal(out, expected)
