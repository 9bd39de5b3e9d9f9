"""Time m2f_mm's deformable attention paths against mmcv's.

Shapes are those of the R50 pixel decoder's encoder on a batch of two
``--size`` images (512: levels 16x16, 32x32 and 64x64, a query per position,
Q = S = 5376), 8 heads of 32 channels and 4 points. Sampling locations mimic
the model: each query's pixel centre plus a few pixels of offset. Runs
alternate between the implementations and the median of each is reported,
since timings are noisy.

On CPU: m2f_mm's C++ CPU kernel and exact PyTorch
path against mmcv's PyTorch fallback. On CUDA also every installed kernel of
m2f_mm's CUDA_KERNELS (Triton, mmcv's CUDA op).

Usage: python tools/analysis_tools/bench_ms_deform_attn.py [--repeats 7] [--threads N]
    [--device cpu|cuda] [--size 512]
"""
import argparse
import statistics
import time

import torch
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

from m2f_mm.ops import CUDA_KERNELS, cuda_kernel
from m2f_mm.ops.ms_deform_attn_cpu import CpuMSDeformAttnFunction, cpu_kernel_module
from m2f_mm.ops.ms_deform_attn_pytorch import ms_deform_attn_pytorch

BATCH, HEADS, HEAD_DIMS, POINTS = 2, 8, 32, 4


def make_inputs(size: int, seed: int = 0):
    """Inputs shaped as in the encoder at 1/32, 1/16 and 1/8 of a size x size image."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [(size // s, size // s) for s in (32, 16, 8)]
    shapes = torch.tensor(sizes)
    areas = shapes.prod(1)
    start = areas.cumsum(0) - areas
    wh = shapes.flip(-1).float()  # (L, 2) as (W, H)
    centres = torch.cat([
        torch.stack(torch.meshgrid((torch.arange(w) + 0.5) / w, (torch.arange(h) + 0.5) / h,
                                   indexing='xy'), -1).reshape(-1, 2) for h, w in sizes])
    q, levels = centres.shape[0], len(sizes)
    offsets = torch.randn(BATCH, q, HEADS, levels, POINTS, 2, generator=gen) * 3  # pixels
    loc = centres[None, :, None, None, None, :] + offsets / wh[:, None, :]
    value = torch.randn(BATCH, q, HEADS, HEAD_DIMS, generator=gen)
    logits = torch.randn(BATCH, q, HEADS, levels * POINTS, generator=gen)
    weights = logits.softmax(-1).view(BATCH, q, HEADS, levels, POINTS)
    return shapes, start, value, loc, weights


def time_once(fn, inputs, grad_out, backward):
    """Seconds for one forward (and backward) pass."""
    inputs = [t.detach().requires_grad_() for t in inputs]
    sync = torch.cuda.synchronize if grad_out.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    out = fn(*inputs)
    if backward:
        out.backward(grad_out)
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--size', type=int, default=512, help='input image size')
    parser.add_argument('--triton-block-m', type=int, nargs='+', default=[],
                        help='also time the Triton kernel with these rows per program')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes, start, value, loc, weights = (t.to(args.device) for t in make_inputs(args.size))
    implementations = {
        'mmcv PyTorch fallback': lambda v, l, w: multi_scale_deformable_attn_pytorch(
            v, shapes, l, w),
        'm2f_mm exact PyTorch': lambda v, l, w: ms_deform_attn_pytorch(v, shapes, l, w),
    }
    if not value.is_cuda and cpu_kernel_module() is not None:
        implementations['m2f_mm C++ CPU kernel'] = (
            lambda v, l, w: CpuMSDeformAttnFunction.apply(v, shapes, start, l, w))
    if value.is_cuda:
        for name in CUDA_KERNELS:
            kernel = cuda_kernel(name)
            if kernel is not None:
                implementations[f'{name} CUDA kernel'] = (
                    lambda v, l, w, k=kernel: k(v, shapes, start, l, w, 64))
        if cuda_kernel('triton') is not None:
            from m2f_mm.ops import ms_deform_attn_triton as triton_module

            def with_block_m(block_m, kernel=cuda_kernel('triton')):
                def run(v, l, w):
                    default, triton_module._BLOCK_M = triton_module._BLOCK_M, block_m
                    try:
                        return kernel(v, shapes, start, l, w, 64)
                    finally:
                        triton_module._BLOCK_M = default
                return run

            for block_m in args.triton_block_m:
                implementations[f'triton BLOCK_M={block_m}'] = with_block_m(block_m)
    with torch.no_grad():
        outputs = {name: fn(value, loc, weights) for name, fn in implementations.items()}
    reference = outputs['m2f_mm exact PyTorch']
    for name, out in outputs.items():
        print(f'{name}: max |difference| from the exact path '
              f'{(out - reference).abs().max().item():.2e}')
    grad_out = torch.randn_like(reference)
    print(f'torch {torch.__version__} on {args.device}, {torch.get_num_threads()} threads, '
          f'{args.size}x{args.size} input, median of {args.repeats} runs')
    for backward in (False, True):
        times = {name: [] for name in implementations}
        for _ in range(args.repeats + 1):  # the first round warms up
            for name, fn in implementations.items():
                times[name].append(time_once(fn, (value, loc, weights), grad_out, backward))
        medians = {name: statistics.median(t[1:]) for name, t in times.items()}
        base = medians['mmcv PyTorch fallback']
        label = 'forward+backward' if backward else 'forward'
        print(f'{label}: ' + ', '.join(f'{name} {m * 1e3:.2f} ms (x{base / m:.2f})'
                                        for name, m in medians.items()))
    print('(x: speed-up over mmcv\'s PyTorch fallback)')


if __name__ == '__main__':
    main()
