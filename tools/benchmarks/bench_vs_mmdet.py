"""Side-by-side speed and memory of m2f_mm's Mask2Former against mmdet 3.3.0's.

Both models come from the R50 COCO panoptic configs (mmdet's own, and ours
under configs/mask2former); m2f_mm's head gets mmdet's weights through the
key mapping, so both compute the same function. Each measurement runs in a
fresh worker process (so peak RSS is per model and mode), the two
implementations alternating, and the script prints our/mmdet ratios.

Work measured (the ECOSYSTEM.md baseline): a training step (forward, backward,
AdamW) on 2 images with ``--masks`` things (5; about 20 for LSJ-like COCO
targets) + 1 stuff each, and inference on 1 image. On CUDA, mmdet uses mmcv's
deformable-attention kernel when mmcv was compiled with it, otherwise mmcv's
PyTorch fallback (the script says which), and ``--profile DIR`` writes a
torch.profiler table of one more step per model and mode.

    python tools/benchmarks/bench_vs_mmdet.py [--size 512] [--iters 3] [--device cpu]
        [--masks 5] [--profile DIR]
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


def _build(impl, device):
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, MODELS
    from m2f_mm.converters.mmdet_keys import mmdet_head_key_map
    from m2f_mm.utils import installed_config_path
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        reference = MODELS.build(Config.fromfile(installed_config_path('mmdet', CONFIG)).model)
        reference.panoptic_head.init_weights()  # the backbone's init would download weights
        if impl == 'mmdet':
            return reference.to(device)
        ours = MODELS.build(Config.fromfile(osp.join(REPO, 'configs', CONFIG)).model)
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


def worker(impl, mode, size, iters, device, num_masks, profile_dir):
    """Time ``iters`` steps after warm-up; print one JSON line."""
    import torch
    kernel = _mmdet_kernel(device) if impl == 'mmdet' else _m2f_mm_kernel(device)
    model = _build(impl, device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    if mode == 'train':
        model.train()
        inputs, samples = _batch(size, 2, device, num_masks)
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

        def step():
            optim.zero_grad()
            losses = model.loss(inputs, samples)
            sum(v.sum() for v in losses.values()).backward()
            optim.step()
    else:
        model.eval()
        inputs, samples = _batch(size, 1, device, num_masks)
        if impl == 'm2f_mm':  # the same work as mmdet's: panoptic + instance
            model.panoptic_fusion_head.inference.semantic_on = False

        def step():
            with torch.no_grad():
                model.predict(inputs, samples)
    warmup = 2 if device.startswith('cuda') else 1  # cuDNN and Triton pick kernels first
    times = []
    for i in range(iters + warmup):
        sync()
        start = time.perf_counter()
        step()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith('cuda') else None
    if profile_dir:
        _profile(step, sync, device, osp.join(profile_dir, f'{impl}_{mode}_{size}.txt'))
    print(json.dumps(dict(impl=impl, mode=mode, seconds=statistics.median(times),
                          peak_rss_mb=_peak_rss_mb(), peak_gpu_mb=gpu_mb, kernel=kernel)))


def _m2f_mm_kernel(device):
    """Which deformable attention m2f_mm runs on ``device``."""
    from m2f_mm.ops import ms_deform_attn
    if not device.startswith('cuda'):
        return 'exact PyTorch path'
    names = [n for n in ms_deform_attn.CUDA_KERNELS if ms_deform_attn.cuda_kernel(n)]
    return f'{names[0]} kernel' if names else 'exact PyTorch path (no CUDA kernel installed)'


def _profile(step, sync, device, path):
    """Write torch.profiler's per-op table of one step, by device time then host time."""
    import os
    from torch.profiler import ProfilerActivity, profile
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--modes', nargs='+', default=['train', 'infer'])
    parser.add_argument('--masks', type=int, default=5, help='thing masks per image')
    parser.add_argument('--profile', metavar='DIR', help='write a profile of one step per run')
    parser.add_argument('--worker', nargs=2, metavar=('IMPL', 'MODE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.size, args.iters, args.device, args.masks, args.profile)
        return
    results = {}
    for mode in args.modes:
        for impl in ('mmdet', 'm2f_mm'):
            print(f'[bench] {impl} {mode}: {args.iters} steps at {args.size}x{args.size}, '
                  f'{args.masks} things + 1 stuff per image, on {args.device} ...', flush=True)
            out = subprocess.run(
                [sys.executable, __file__, '--worker', impl, mode, '--size', str(args.size),
                 '--iters', str(args.iters), '--device', args.device, '--masks',
                 str(args.masks)] + (['--profile', args.profile] if args.profile else []),
                capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f'[bench] {impl} {mode} failed:\n{out.stderr[-3000:]}')
            results[impl, mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f'\n{"mode":6} {"mmdet s":>9} {"m2f_mm s":>9} {"time ratio":>11} '
          f'{"mmdet MB":>9} {"m2f_mm MB":>9} {"mem ratio":>10}')
    for mode in args.modes:
        a, b = results['mmdet', mode], results['m2f_mm', mode]
        mem = 'peak_gpu_mb' if args.device.startswith('cuda') else 'peak_rss_mb'
        print(f'{mode:6} {a["seconds"]:9.2f} {b["seconds"]:9.2f} '
              f'{b["seconds"] / a["seconds"]:11.2f} {a[mem]:9.0f} {b[mem]:9.0f} '
              f'{b[mem] / a[mem]:10.2f}')
    print('(ratios are m2f_mm / mmdet: below 1 is faster / smaller)')
    for impl in ('mmdet', 'm2f_mm'):
        print(f'{impl} deformable attention: {results[impl, args.modes[0]]["kernel"]}')


if __name__ == '__main__':
    main()
