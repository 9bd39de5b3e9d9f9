"""Speed, memory and compute bound of m2f_mm's Mask2Former, side by side with mmdet 3.3.0's.

    python tools/analysis_tools/benchmark.py [--config CONFIG] [--size 512] [--iters 3]
        [--runs 3] [--device cpu|cuda] [--masks 5] [--modes train infer] [--memory-claim]
        [--claim-size 1024] [--profile DIR]

Both models come from the config pair of one name: ours under configs/mask2former and
mmdet's installed one (default: the R50 COCO panoptic setting). Our head gets mmdet's
weights through the key mapping, so both compute the same function on the same inputs,
targets and threads.

Work measured: a training step (forward, backward, AdamW) on 2 images with ``--masks``
things (5; about 20 for LSJ-like COCO targets) + 1 stuff each, and inference on 1 image.
Every measurement runs in a fresh worker process (so peak memory is per model and mode:
CUDA max allocated on a GPU, peak RSS on CPU), the two implementations alternating for
``--runs`` rounds; each worker warms up, then reports the median of ``--iters`` steps, and
the table gives the median over the rounds. Each worker also counts the step's FLOPs
(torch's FlopCounterMode: matmuls and convolutions) and measures the machine's fp32 matmul
throughput, so the table shows each time against its compute bound (FLOPs / throughput).

``--profile DIR`` writes torch.profiler's table of one step per worker, and on CPU prints
what the compute bound leaves: the time of the products (the operators whose FLOPs are
counted), their share of the measured throughput, and the step every product at that
throughput would give with the rest as timed.

``--memory-claim`` measures the paper's point-sampling memory claim on our model: training
peak memory with the point-sampled mask losses (the default) and with full-mask losses
(``criterion.point_sampled=False``), at ``--claim-size`` (the paper's 1024) with 2 images.
The matcher samples points in both, as in the paper's Table 5 rows that differ in the loss
only.
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'


def _batch(size, num_images, device, num_masks=5):
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData, PixelData
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(num_images, 3, size, size, generator=g).to(device)
    samples = []
    for i in range(num_images):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        # Overlapping rectangles on a 5-column grid, rows spread over the upper half.
        rows = -(-num_masks // 5)
        masks = torch.zeros(num_masks, size, size, dtype=torch.uint8)
        for k in range(num_masks):
            y, x = (k // 5) * size // (2 * rows), ((k + i) % 5) * size // 6
            masks[k, y:y + size // 4, x:x + size // 3] = 1
        s.gt_instances = InstanceData(labels=torch.arange(num_masks, device=device) * 7 % 80,
                                      masks=BitmapMasks(masks.numpy(), size, size),
                                      bboxes=torch.zeros(num_masks, 4, device=device))
        sem = torch.full((1, size, size), 255, dtype=torch.long)
        sem[0, size // 2:] = 100  # one stuff segment
        s.gt_sem_seg = PixelData(sem_seg=sem.to(device))
        samples.append(s)
    return inputs, samples


def _build(impl, device, config):
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, MODELS
    from m2f_mm.converters.mmdet_keys import mmdet_head_key_map
    from m2f_mm.utils import installed_config_path
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MODELS.build(Config.fromfile(installed_config_path('mmdet', config)).model)
        reference.panoptic_head.init_weights()  # the backbone's init would download weights
        if impl == 'mmdet':
            return reference.to(device)
        ours = MODELS.build(Config.fromfile(osp.join(REPO, 'configs', config)).model)
    head = mmdet_head_key_map(reference.panoptic_head.state_dict())
    ours.panoptic_head.load_state_dict(head, strict=False)
    ours.backbone.load_state_dict(reference.backbone.state_dict())
    return ours.to(device)


def _peak_rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def _mmdet_kernel(device):
    """Which deformable attention mmdet's model runs on ``device``; on CUDA
    without mmcv's compiled kernel, switch mmcv to its PyTorch fallback."""
    if not device.startswith('cuda'):
        return 'mmcv PyTorch fallback (CPU)'
    from mmcv.ops import get_compiling_cuda_version
    if get_compiling_cuda_version() != 'not available':
        return 'mmcv CUDA kernel'
    import mmcv.ops.multi_scale_deform_attn as msda
    msda.IS_CUDA_AVAILABLE = False
    return 'mmcv PyTorch fallback (mmcv has no CUDA ops)'


def _matmul_flops_per_second(device, n=2048, repeats=5):
    """The machine's fp32 matmul throughput (median of ``repeats``), the compute bound's unit."""
    import torch
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    times = []
    for i in range(repeats + 1):
        sync()
        start = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times[1:])


def _count_flops(step):
    """FLOPs of one ``step`` by torch's formulas (matmuls, convolutions, attention).

    torch's FlopCounterMode also tracks modules with backward hooks, which fails on
    mmdet's model; its formulas are applied here by a plain dispatch mode instead.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += formula(*args, **(kwargs or {}), out_val=out)
            return out

    with Counter():
        step()
    return Counter.total


def worker(impl, mode, args):
    """Time ``args.iters`` steps after warm-up, count FLOPs; print one JSON line."""
    import torch
    device = args.device
    if args.keep_freed_memory:
        from m2f_mm.utils.cpu_allocator import keep_freed_memory
        keep_freed_memory()
    if impl == 'mmdet':
        kernel = _mmdet_kernel(device)
    else:
        from m2f_mm.ops import kernel_name
        kernel = kernel_name(device)
    model = _build(impl, device, args.config)
    if args.full_mask_loss:
        model.panoptic_head.criterion.point_sampled = False
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    if mode == 'train':
        model.train()
        inputs, samples = _batch(args.size, 2, device, args.masks)
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

        def step():
            optim.zero_grad()
            losses = model.loss(inputs, samples)
            sum(v.sum() for v in losses.values()).backward()
            optim.step()
    else:
        model.eval()
        inputs, samples = _batch(args.size, 1, device, args.masks)
        if impl == 'm2f_mm':  # the same work as mmdet's: panoptic + instance
            model.panoptic_fusion_head.inference.semantic_on = False

        def step():
            with torch.no_grad():
                model.predict(inputs, samples)
    idle_mb = _peak_rss_mb()
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        idle_mb = torch.cuda.memory_allocated() / 2**20
    times = []
    for i in range(args.iters + args.warmup):
        sync()
        start = time.perf_counter()
        step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith('cuda')
               else _peak_rss_mb())
    flops = _count_flops(step)
    result = dict(impl=impl, mode=mode, seconds=statistics.median(times), peak_mb=peak_mb,
                  idle_mb=idle_mb, flops=flops,
                  matmul_flops_per_s=_matmul_flops_per_second(device), kernel=kernel)
    if args.profile:
        result['product_seconds'] = _profile(
            step, sync, device, osp.join(args.profile, f'{impl}_{mode}_{args.size}.txt'))
    print(json.dumps(result))


def _profile(step, sync, device, path):
    """Write torch.profiler's per-op table of one step, by device time then host time.

    Returns:
        On CPU, the seconds the step spent in products: the operators whose FLOPs
        torch's ``flop_registry`` counts (here matmuls and convolutions; it has no
        formula for CPU attention), outermost calls only. None on CUDA, where host
        time does not measure the kernels.
    """
    import os
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.flop_counter import flop_registry
    activities = [ProfilerActivity.CPU]
    if device.startswith('cuda'):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step()
        sync()
    os.makedirs(osp.dirname(path), exist_ok=True)
    averages = prof.key_averages()
    with open(path, 'w') as f:
        for key in ('self_cuda_time_total', 'self_cpu_time_total'):
            f.write(f'== sorted by {key}\n{averages.table(sort_by=key, row_limit=40)}\n')
    if device.startswith('cuda'):
        return None
    products = {str(op).replace('.', '::') for op in flop_registry}

    def inside_product(event):
        parent = event.cpu_parent
        while parent is not None:
            if parent.name in products:
                return True
            parent = parent.cpu_parent
        return False

    return sum(e.cpu_time_total for e in prof.events()
               if e.name in products and not inside_product(e)) / 1e6


def _run_worker(impl, mode, args, size=None, full_mask_loss=False):
    size = size or args.size
    what = (', full-mask losses' if full_mask_loss else ', point-sampled losses'
            ) if mode == 'train' else ''
    print(f'[benchmark] {impl} {mode}: {args.iters} steps at {size}x{size}, {args.masks} things '
          f'+ 1 stuff per image{what}, on {args.device} ...', flush=True)
    cmd = [sys.executable, __file__, '--worker', impl, mode, '--config', args.config,
           '--size', str(size), '--iters', str(args.iters), '--warmup', str(args.warmup),
           '--device', args.device, '--masks', str(args.masks)]
    cmd += (['--profile', args.profile] if args.profile else [])
    cmd += (['--full-mask-loss'] if full_mask_loss else [])
    cmd += (['--keep-freed-memory'] if args.keep_freed_memory else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f'[benchmark] {impl} {mode} failed:\n{out.stderr[-3000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(results, key):
    return statistics.median(r[key] for r in results)


def _comparison_table(args):
    """Alternate mmdet and m2f_mm for ``args.runs`` rounds; print the ratio table."""
    rounds = {(impl, mode): [] for mode in args.modes for impl in ('mmdet', 'm2f_mm')}
    for _ in range(args.runs):
        for mode in args.modes:
            for impl in ('mmdet', 'm2f_mm'):
                rounds[impl, mode].append(_run_worker(impl, mode, args))
    mem = 'CUDA max allocated' if args.device.startswith('cuda') else 'peak RSS'
    malloc = ', both with freed memory kept (--keep-freed-memory)' if args.keep_freed_memory else ''
    print(f'\n{args.config} at {args.size}x{args.size} on {args.device}, median of {args.runs} '
          f'alternating runs of {args.iters} steps{malloc}; memory: {mem} (MB)')
    print(f'{"mode":6} {"mmdet s":>8} {"ours s":>8} {"ratio":>6} {"mmdet MB":>9} {"ours MB":>8} '
          f'{"ratio":>6} {"GFLOP":>7} {"mmdet/bound":>12} {"ours/bound":>11}')
    for mode in args.modes:
        a, b = rounds['mmdet', mode], rounds['m2f_mm', mode]
        bound = _median(b, 'flops') / _median(a + b, 'matmul_flops_per_s')
        print(f'{mode:6} {_median(a, "seconds"):8.2f} {_median(b, "seconds"):8.2f} '
              f'{_median(b, "seconds") / _median(a, "seconds"):6.2f} {_median(a, "peak_mb"):9.0f} '
              f'{_median(b, "peak_mb"):8.0f} {_median(b, "peak_mb") / _median(a, "peak_mb"):6.2f} '
              f'{_median(b, "flops") / 1e9:7.0f} {_median(a, "seconds") / bound:12.2f} '
              f'{_median(b, "seconds") / bound:11.2f}')
    print(f'(ratios: ours / mmdet, below 1 is faster / smaller; bound: our FLOPs at '
          f'{_median(rounds["m2f_mm", args.modes[0]], "matmul_flops_per_s") / 1e9:.0f} GFLOP/s, '
          'the measured fp32 matmul throughput)')
    for impl in ('mmdet', 'm2f_mm'):
        print(f'{impl} deformable attention: {rounds[impl, args.modes[0]][0]["kernel"]}')
    if args.profile and not args.device.startswith('cuda'):
        _products_at_peak(rounds, args.modes)


def _products_at_peak(rounds, modes):
    """Per model and mode, the profiled products against the peak, and the step they
    would allow: every product at the measured matmul throughput, the rest as timed."""
    print('\nProducts (the operators whose FLOPs are counted) in the profiled step, medians; '
          'each model against the bound of its own FLOPs:')
    for mode in modes:
        for impl in ('mmdet', 'm2f_mm'):
            r = rounds[impl, mode]
            seconds, products = _median(r, 'seconds'), _median(r, 'product_seconds')
            bound = _median(r, 'flops') / _median(r, 'matmul_flops_per_s')
            rest = seconds - products
            print(f'{mode:6} {impl:7} products {products:6.2f} s at '
                  f'{bound / products:4.2f} of the peak; the rest {rest:5.2f} s; '
                  f'every product at the peak: {bound + rest:5.2f} s = '
                  f'{(bound + rest) / bound:4.2f}x its bound')


def _memory_claim(args):
    """Our training peak memory with point-sampled vs full-mask losses at ``--claim-size``."""
    point, full = (_run_worker('m2f_mm', 'train', args, args.claim_size, full_mask_loss=flag)
                   for flag in (False, True))
    mem = 'CUDA max allocated' if args.device.startswith('cuda') else 'peak RSS'
    print(f'\nTraining peak memory at {args.claim_size}x{args.claim_size}, 2 images ({mem}; '
          'above the built model in brackets)')
    for name, r in (('point-sampled losses', point), ('full-mask losses', full)):
        print(f'{name:22} {r["peak_mb"]:8.0f} MB ({r["peak_mb"] - r["idle_mb"]:.0f} MB)')
    print(f'full / point: {full["peak_mb"] / point["peak_mb"]:.2f} '
          f'({(full["peak_mb"] - full["idle_mb"]) / (point["peak_mb"] - point["idle_mb"]):.2f} '
          'above the built model); the paper reports 18 GB / 6 GB = 3 on a GPU')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=CONFIG,
                        help='a config name present in configs/ and in mmdet\'s configs')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--runs', type=int, default=3, help='alternating rounds')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--modes', nargs='*', default=['train', 'infer'],
                        choices=['train', 'infer'], help='none: only the memory claim')
    parser.add_argument('--masks', type=int, default=5, help='thing masks per image')
    parser.add_argument('--memory-claim', action='store_true',
                        help='also measure point-sampled vs full-mask loss memory')
    parser.add_argument('--claim-size', type=int, default=1024)
    parser.add_argument('--keep-freed-memory', action='store_true',
                        help='in both workers, keep freed memory in the process as tools/train.py '
                             'does on CPU (m2f_mm.utils.cpu_allocator)')
    parser.add_argument('--profile', metavar='DIR',
                        help='write a profile of one step per run; on CPU, also print the '
                             'step with every product at the measured matmul throughput')
    parser.add_argument('--worker', nargs=2, metavar=('IMPL', 'MODE'), help=argparse.SUPPRESS)
    parser.add_argument('--full-mask-loss', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args)
        return
    if not osp.isfile(osp.join(REPO, 'configs', args.config)):
        sys.exit(f'benchmark.py: --config {args.config}: not found under configs/')
    if args.modes:
        _comparison_table(args)
    if args.memory_claim:
        _memory_claim(args)


if __name__ == '__main__':
    main()
