"""Time m2f_mm's PyTorch deformable attention against mmcv's on CPU.

Shapes are those of the R50 pixel decoder's encoder on a batch of two 512x512
images: levels 16x16, 32x32 and 64x64, a query per position (Q = S = 5376),
8 heads of 32 channels and 4 points. Sampling locations mimic the model: each
query's pixel centre plus a few pixels of offset. Runs alternate between the
two implementations and the median of each is reported, since this machine's
timings are noisy.

Usage: python tools/benchmarks/bench_ms_deform_attn.py [--repeats 7] [--threads N]
"""
import argparse
import statistics
import time

import torch
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch

from m2f_mm.models.layers.ms_deform_attn import multi_scale_deformable_attention

SIZES = [(16, 16), (32, 32), (64, 64)]
BATCH, HEADS, HEAD_DIMS, POINTS = 2, 8, 32, 4


def make_inputs(seed: int = 0):
    """Inputs shaped as in the encoder; value, locations and weights need grad."""
    gen = torch.Generator().manual_seed(seed)
    shapes = torch.tensor(SIZES)
    areas = shapes.prod(1)
    start = areas.cumsum(0) - areas
    wh = shapes.flip(-1).float()  # (L, 2) as (W, H)
    centres = torch.cat([
        torch.stack(torch.meshgrid((torch.arange(w) + 0.5) / w, (torch.arange(h) + 0.5) / h,
                                   indexing='xy'), -1).reshape(-1, 2) for h, w in SIZES])
    q, levels = centres.shape[0], len(SIZES)
    offsets = torch.randn(BATCH, q, HEADS, levels, POINTS, 2, generator=gen) * 3  # pixels
    loc = centres[None, :, None, None, None, :] + offsets / wh[:, None, :]
    value = torch.randn(BATCH, q, HEADS, HEAD_DIMS, generator=gen)
    logits = torch.randn(BATCH, q, HEADS, levels * POINTS, generator=gen)
    weights = logits.softmax(-1).view(BATCH, q, HEADS, levels, POINTS)
    return shapes, start, value, loc, weights


def time_once(fn, inputs, grad_out, backward):
    """Seconds for one forward (and backward) pass."""
    inputs = [t.detach().requires_grad_() for t in inputs]
    start = time.perf_counter()
    out = fn(*inputs)
    if backward:
        out.backward(grad_out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes, start, value, loc, weights = make_inputs()
    implementations = {
        'mmcv': lambda v, l, w: multi_scale_deformable_attn_pytorch(v, shapes, l, w),
        'm2f_mm': lambda v, l, w: multi_scale_deformable_attention(v, shapes, start, l, w),
    }
    with torch.no_grad():
        outputs = [fn(value, loc, weights) for fn in implementations.values()]
    print(f'max |difference| of outputs: {(outputs[0] - outputs[1]).abs().max().item():.2e}')
    grad_out = torch.randn_like(outputs[0])
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'median of {args.repeats} runs')
    for backward in (False, True):
        times = {name: [] for name in implementations}
        for _ in range(args.repeats + 1):  # the first round warms up
            for name, fn in implementations.items():
                times[name].append(time_once(fn, (value, loc, weights), grad_out, backward))
        medians = {name: statistics.median(t[1:]) for name, t in times.items()}
        label = 'forward+backward' if backward else 'forward'
        print(f'{label:>16}: mmcv {medians["mmcv"] * 1e3:7.1f} ms, '
              f'm2f_mm {medians["m2f_mm"] * 1e3:7.1f} ms, '
              f'speed-up x{medians["mmcv"] / medians["m2f_mm"]:.2f}')


if __name__ == '__main__':
    main()
