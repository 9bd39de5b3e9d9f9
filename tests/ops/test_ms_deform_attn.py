"""Tests of the multi-scale deformable attention op: the op on CPU (the C++
kernel) and its exact PyTorch path against mmcv's reference, and the choice of
path (CUDA kernels on a GPU)."""
import pytest
import torch
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

from m2f_mm.ops import ms_deform_attn, ms_deform_attn_pytorch
from m2f_mm.ops.ms_deform_attn_grid_sample import ms_deform_attn_grid_sample
from m2f_mm.ops import multi_scale_deformable_attention


def _inputs(sizes, batch=2, heads=3, head_dims=4, points=2, queries=11, dtype=torch.float32,
            contiguous=True, seed=0):
    """Random inputs; locations span [-0.3, 1.3] so some samples fall off the map."""
    gen = torch.Generator().manual_seed(seed)
    shapes = torch.tensor(sizes)
    areas = shapes.prod(1)
    start = areas.cumsum(0) - areas
    levels = len(sizes)
    if contiguous:
        value = torch.randn(batch, int(areas.sum()), heads, head_dims, generator=gen, dtype=dtype)
    else:
        value = torch.randn(batch, int(areas.sum()), head_dims, heads, generator=gen,
                            dtype=dtype).transpose(2, 3)
    loc = torch.rand(batch, queries, heads, levels, points, 2, generator=gen, dtype=dtype)
    loc = loc * 1.6 - 0.3
    weights = torch.rand(batch, queries, heads, levels * points, generator=gen, dtype=dtype)
    weights = weights.softmax(-1).view(batch, queries, heads, levels, points)
    return value, shapes, start, loc, weights


def _forward_backward(fn, value, loc, weights, grad_out):
    value, loc, weights = (t.detach().requires_grad_() for t in (value, loc, weights))
    out = fn(value, loc, weights)
    out.backward(grad_out)
    return out, value.grad, loc.grad, weights.grad


@pytest.mark.parametrize('exact_path', [False, True])
@pytest.mark.parametrize('sizes, contiguous', [
    ([(3, 5), (7, 4), (2, 9)], True),
    ([(6, 1), (1, 5)], False),
])
def test_matches_mmcv_pytorch_reference(monkeypatch, sizes, contiguous, exact_path):
    if exact_path:
        monkeypatch.setattr(ms_deform_attn, 'cpu_kernel_module', lambda: None)
    value, shapes, start, loc, weights = _inputs(sizes, contiguous=contiguous)
    assert ((loc < 0) | (loc > 1)).any()
    grad_out = torch.randn(value.shape[0], loc.shape[1], value.shape[2] * value.shape[3])
    ours = _forward_backward(
        lambda v, l, w: multi_scale_deformable_attention(v, shapes, start, l, w),
        value, loc, weights, grad_out)
    ref = _forward_backward(
        lambda v, l, w: multi_scale_deformable_attn_pytorch(v, shapes, l, w),
        value, loc, weights, grad_out)
    for name, a, b in zip(['output', 'value', 'locations', 'weights'], ours, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0, msg=name)


def test_int64_row_indices_give_the_same_result(monkeypatch):
    # Tables with more than 2**31 rows switch to 64-bit indices; force that here.
    value, shapes, start, loc, weights = _inputs([(3, 5), (7, 4)])
    grad_out = torch.randn(value.shape[0], loc.shape[1], value.shape[2] * value.shape[3])

    def run(v, l, w):
        return ms_deform_attn_pytorch.ms_deform_attn_pytorch(v, shapes, l, w)

    expected = _forward_backward(run, value, loc, weights, grad_out)
    monkeypatch.setattr(ms_deform_attn_pytorch, '_INT32_MAX_ROWS', 0)
    for a, b in zip(_forward_backward(run, value, loc, weights, grad_out), expected):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_gradcheck_float64():
    # The exact PyTorch path; tests/ops/test_ms_deform_attn_cpu.py checks the C++ kernel.
    value, shapes, start, loc, weights = _inputs([(2, 3), (3, 2)], batch=1, heads=2, head_dims=2,
                                                 queries=3, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (value, loc, weights))
    assert torch.autograd.gradcheck(
        lambda v, l, w: ms_deform_attn_pytorch.ms_deform_attn_pytorch(v, shapes, l, w), inputs)


def test_autocast_runs_in_float32():
    value, shapes, start, loc, weights = _inputs([(3, 5), (4, 4)])
    value, loc, weights = (t.bfloat16() for t in (value, loc, weights))
    expected = multi_scale_deformable_attention(value.float(), shapes, start, loc.float(),
                                                weights.float())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = multi_scale_deformable_attention(value, shapes, start, loc, weights)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, atol=0, rtol=0)


def _forbidden_kernel(*args):
    raise AssertionError('a CUDA kernel was called')


def test_cpu_inputs_never_use_a_cuda_kernel(monkeypatch):
    # Pretend every CUDA kernel is installed: CPU inputs must still avoid them.
    monkeypatch.setattr(ms_deform_attn, 'cuda_kernel', lambda name: _forbidden_kernel)
    value, shapes, start, loc, weights = _inputs([(3, 5)])
    out = multi_scale_deformable_attention(value, shapes, start, loc, weights)
    assert out.shape == (2, 11, 12)


@pytest.mark.parametrize('sizes', [[(3, 5), (7, 4), (2, 9)], [(6, 1), (1, 5)]])
def test_grid_sample_path_equals_the_exact_path(sizes):
    value, shapes, start, loc, weights = _inputs(sizes, dtype=torch.float64)
    assert ((loc < 0) | (loc > 1)).any()
    torch.testing.assert_close(ms_deform_attn_grid_sample(value, shapes, start, loc, weights),
                               multi_scale_deformable_attention(value, shapes, start, loc, weights),
                               atol=1e-12, rtol=0)


def test_onnx_export_uses_the_grid_sample_path(monkeypatch):
    value, shapes, start, loc, weights = _inputs([(3, 5), (4, 4)])
    calls = []
    monkeypatch.setattr(ms_deform_attn, 'ms_deform_attn_grid_sample',
                        lambda *args: calls.append(args) or ms_deform_attn_grid_sample(*args))
    multi_scale_deformable_attention(value, shapes, start, loc, weights)
    assert not calls
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    monkeypatch.setattr(ms_deform_attn, 'cuda_kernel', lambda name: _forbidden_kernel)
    multi_scale_deformable_attention(value, shapes, start, loc, weights)
    assert len(calls) == 1


def test_unknown_cuda_kernel_is_an_error():
    with pytest.raises(ValueError, match='unknown CUDA kernel'):
        ms_deform_attn.cuda_kernel('cutlass')


# The R50 pixel decoder's encoder on a batch of two 1024x1024 images: levels at
# 1/32, 1/16 and 1/8, one query per position, 8 heads of 32 channels, 4 points.
R50_1024_LEVELS = [(32, 32), (64, 64), (128, 128)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('name', ms_deform_attn.CUDA_KERNELS)
def test_cuda_kernel_matches_pytorch_path_at_r50_shapes(monkeypatch, name):
    kernel = ms_deform_attn.cuda_kernel(name)
    if kernel is None:
        pytest.skip(f'the {name} kernel is not installed')
    calls = []

    def spy(*args):
        calls.append(args)
        return kernel(*args)

    queries = sum(h * w for h, w in R50_1024_LEVELS)
    value, shapes, start, loc, weights = _inputs(R50_1024_LEVELS, heads=8, head_dims=32,
                                                 points=4, queries=queries)
    value, shapes, start, loc, weights = (t.cuda() for t in (value, shapes, start, loc, weights))
    grad_out = torch.randn(2, queries, 256, device='cuda')

    def run(v, l, w):
        return multi_scale_deformable_attention(v, shapes, start, l, w)

    monkeypatch.setattr(ms_deform_attn, '_first_cuda_kernel', lambda: spy)
    cuda = _forward_backward(run, value, loc, weights, grad_out)
    assert len(calls) == 1, 'CUDA inputs did not use the CUDA kernel'
    monkeypatch.setattr(ms_deform_attn, '_first_cuda_kernel', lambda: None)
    pytorch = _forward_backward(run, value, loc, weights, grad_out)
    for label, a, b in zip(['output', 'value', 'locations', 'weights'], cuda, pytorch):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4, msg=label)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_inputs_use_the_first_installed_kernel():
    installed = [n for n in ms_deform_attn.CUDA_KERNELS if ms_deform_attn.cuda_kernel(n)]
    assert installed, 'no CUDA kernel is installed (neither Triton nor mmcv with CUDA ops)'
    assert ms_deform_attn._first_cuda_kernel() is ms_deform_attn.cuda_kernel(installed[0])
