"""FoldedBottleneck against mmdet's Bottleneck: with frozen BatchNorms the ResNet
computes the same outputs and gradients, the block norms never run on their own,
and every other setting is mmdet's forward."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope, MODELS

from m2f_mm.adapters.folded_bottleneck import FoldedBottleneck, use_folded_bottlenecks
from m2f_mm.models.layers.frozen_batch_norm import FrozenBatchNorm2d, use_frozen_batch_norm
from m2f_mm.models.layers.pointwise_conv import use_pointwise_conv


def _resnets(**kwargs):
    """(mmdet's ResNet-50 with frozen norms, the same network with ours), in double."""
    import mmdet.models  # noqa: F401
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MODELS.build({**dict(type='ResNet', depth=50, base_channels=8,
                                         norm_cfg=dict(type='BN', requires_grad=False),
                                         norm_eval=True), **kwargs})
    gen = torch.Generator().manual_seed(0)
    for name, buffer in reference.named_buffers():
        if name.endswith(('running_mean', 'running_var')):  # statistics a checkpoint holds
            buffer.copy_(torch.rand(buffer.shape, generator=gen) + 0.5)
    reference.double().train()  # norm_eval keeps the BatchNorms in eval mode
    ours = copy.deepcopy(reference)
    keys = list(ours.state_dict())
    for use_faster_layers in (use_frozen_batch_norm, use_folded_bottlenecks, use_pointwise_conv):
        use_faster_layers(ours)
    assert list(ours.state_dict()) == keys
    return reference, ours


def _outputs_and_grads(model, x):
    model.zero_grad()
    x = x.clone().requires_grad_()
    outs = model(x)
    sum(o.square().sum() for o in outs).backward()  # a gradient that varies per element
    return list(outs) + [x.grad] + [p.grad for p in model.parameters() if p.requires_grad]


def _count_norm_calls(monkeypatch):
    calls = []
    forward = FrozenBatchNorm2d.forward
    monkeypatch.setattr(FrozenBatchNorm2d, 'forward',
                        lambda self, x: calls.append(self) or forward(self, x))
    return calls


def test_frozen_norms_fold_into_the_convolutions(monkeypatch):
    reference, ours = _resnets()
    assert sum(type(m) is FoldedBottleneck for m in ours.modules()) == 16  # 3 + 4 + 6 + 3
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    expected = _outputs_and_grads(reference, x)
    calls = _count_norm_calls(monkeypatch)
    results = _outputs_and_grads(ours, x)
    assert calls == [ours.norm1]  # the stem's; every block norm ran inside its convolution
    for a, b in zip(results, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize('case', ['training norms', 'activation checkpointing'])
def test_other_settings_run_mmdets_forward(case, monkeypatch):
    reference, ours = _resnets(**({'norm_eval': False} if case == 'training norms'
                                  else {'with_cp': True}))
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    expected = _outputs_and_grads(reference, x)
    calls = _count_norm_calls(monkeypatch)
    results = _outputs_and_grads(ours, x)
    assert len(calls) >= 53  # every norm of the network ran as a layer
    for a, b in zip(results, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    for a, b in zip(ours.buffers(), reference.buffers()):  # the same statistics updates
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
