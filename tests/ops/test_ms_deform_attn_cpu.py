"""Tests of m2f_mm's compiled CPU kernel of deformable attention against the exact
PyTorch path: both instruction-set builds, gradients, the borders, bad shapes."""
import pytest
import torch

from m2f_mm.ops import kernel_name, ms_deform_attn, multi_scale_deformable_attention
from m2f_mm.ops.ms_deform_attn_cpu import CpuMSDeformAttnFunction, cpu_kernel_module
from m2f_mm.ops.ms_deform_attn_pytorch import ms_deform_attn_pytorch
from .test_ms_deform_attn import _forward_backward, _inputs

SIZES = [(3, 5), (7, 4), (2, 9)]


def _module():
    module = cpu_kernel_module()
    # setup.py always builds it: its absence means a broken install, not a skip.
    assert module is not None, 'm2f_mm.ops._ms_deform_attn_cpu is not built; run tools/setup_env.sh'
    return module


def _kernel_paths():
    """Autograd op (the AVX2 build where the CPU has it) and the baseline build."""
    module = _module()

    class Baseline(torch.autograd.Function):
        @staticmethod
        def forward(ctx, value, shapes, start, loc, weights):
            ctx.save_for_backward(value, shapes, start, loc, weights)
            return module.forward(value, shapes, start, loc, weights, allow_avx2=False)

        @staticmethod
        def backward(ctx, grad):
            gv, gl, gw = module.backward(*ctx.saved_tensors, grad.contiguous(), allow_avx2=False)
            return gv, None, None, gl, gw

    return {'dispatched': CpuMSDeformAttnFunction.apply, 'baseline': Baseline.apply}


# 32 channels per head (Mask2Former's) runs the kernels compiled for that count.
@pytest.mark.parametrize('head_dims', [8, 32])
@pytest.mark.parametrize('path', ['dispatched', 'baseline'])
@pytest.mark.parametrize('dtype, atol', [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_kernel_equals_the_exact_path(path, dtype, atol, head_dims):
    value, shapes, start, loc, weights = _inputs(SIZES, heads=4, head_dims=head_dims, points=3,
                                                 queries=17, dtype=dtype)
    assert ((loc < 0) | (loc > 1)).any()
    grad_out = torch.randn(value.shape[0], loc.shape[1], 4 * head_dims, dtype=dtype)
    kernel = _kernel_paths()[path]
    ours = _forward_backward(lambda v, l, w: kernel(v, shapes, start, l, w),
                             value, loc, weights, grad_out)
    exact = _forward_backward(lambda v, l, w: ms_deform_attn_pytorch(v, shapes, l, w),
                              value, loc, weights, grad_out)
    for name, a, b in zip(['output', 'value', 'locations', 'weights'], ours, exact):
        assert a.abs().max() > 0, name
        torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=name)


def test_samples_on_and_beyond_the_borders():
    # Pixel-unit corners at -1, 0, W - 1 and W, and samples whose neighbourhood just
    # touches or just misses the level, on a 3 x 4 level.
    h, w = 3, 4
    px = torch.tensor([-1.5, -1.0, -0.75, -0.5, 0.0, 2.5, 3.0, 3.25, 3.5, 4.0, 4.5])
    x_norm = (px + 0.5) / w
    y_norm = (px.clamp(max=3.0) + 0.5) / h
    grid = torch.stack(torch.meshgrid(x_norm, y_norm, indexing='ij'), -1).reshape(-1, 2)
    q = grid.shape[0]
    loc = grid.double().view(1, q, 1, 1, 1, 2)
    value = torch.randn(1, h * w, 1, 3, dtype=torch.float64)
    weights = torch.rand(1, q, 1, 1, 1, dtype=torch.float64)
    shapes, start = torch.tensor([[h, w]]), torch.tensor([0])
    grad_out = torch.randn(1, q, 3, dtype=torch.float64)
    ours = _forward_backward(lambda v, l, wt: CpuMSDeformAttnFunction.apply(v, shapes, start, l, wt),
                             value, loc, weights, grad_out)
    exact = _forward_backward(lambda v, l, wt: ms_deform_attn_pytorch(v, shapes, l, wt),
                              value, loc, weights, grad_out)
    for name, a, b in zip(['output', 'value', 'locations', 'weights'], ours, exact):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0, msg=name)
    assert (ours[0].abs().sum(-1) == 0).any() and (ours[0].abs().sum(-1) > 0).any()


def test_gradcheck_float64():
    value, shapes, start, loc, weights = _inputs([(2, 3), (3, 2)], batch=1, heads=2,
                                                 head_dims=2, queries=3, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (value, loc, weights))
    assert torch.autograd.gradcheck(
        lambda v, l, w: CpuMSDeformAttnFunction.apply(v, shapes, start, l, w), inputs)


def test_cpu_inputs_use_the_kernel_and_fall_back_to_the_exact_path(monkeypatch):
    value, shapes, start, loc, weights = _inputs(SIZES)
    calls, apply = [], CpuMSDeformAttnFunction.apply
    monkeypatch.setattr(ms_deform_attn.CpuMSDeformAttnFunction, 'apply',
                        lambda *args: calls.append(args) or apply(*args))
    with_kernel = multi_scale_deformable_attention(value, shapes, start, loc, weights)
    assert len(calls) == 1
    assert kernel_name('cpu').startswith('C++ CPU kernel')
    monkeypatch.setattr(ms_deform_attn, 'cpu_kernel_module', lambda: None)
    without = multi_scale_deformable_attention(value, shapes, start, loc, weights)
    assert len(calls) == 1
    assert kernel_name('cpu').startswith('exact PyTorch path')
    torch.testing.assert_close(with_kernel, without, atol=1e-5, rtol=0)


def test_mismatched_shapes_are_errors():
    value, shapes, start, loc, weights = _inputs(SIZES)
    module = _module()
    with pytest.raises(RuntimeError, match='sampling_locations must be'):
        module.forward(value, shapes, start, loc[:, :, :2].contiguous(), weights)
    with pytest.raises(RuntimeError, match='spatial_shapes'):
        module.forward(value, shapes[:2], start[:2], loc, weights)
    with pytest.raises(RuntimeError, match='one dtype'):
        module.forward(value, shapes, start, loc.double(), weights)
