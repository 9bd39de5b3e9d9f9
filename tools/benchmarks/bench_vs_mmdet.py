"""Side-by-side speed and memory of m2f_mm's Mask2Former against mmdet 3.3.0's.

Both models come from the R50 COCO panoptic configs (mmdet's own, and ours
under configs/mask2former); m2f_mm's head gets mmdet's weights through the
key mapping, so both compute the same function. Each measurement runs in a
fresh worker process (so peak RSS is per model and mode), the two
implementations alternating, and the script prints our/mmdet ratios.

Work measured (the ECOSYSTEM.md baseline): a training step (forward, backward,
AdamW) on 2 images with 5 things + 1 stuff each, and inference on 1 image.

    python tools/benchmarks/bench_vs_mmdet.py [--size 512] [--iters 3] [--device cpu]
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


def _batch(size, num_images, device):
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
        masks = torch.zeros(5, size, size, dtype=torch.uint8)
        for k in range(5):
            y, x = (k * size) // 6, ((k + i) % 5) * size // 6
            masks[k, y:y + size // 4, x:x + size // 3] = 1
        s.gt_instances = InstanceData(labels=torch.arange(5, device=device) * 7,
                                      masks=BitmapMasks(masks.numpy(), size, size),
                                      bboxes=torch.zeros(5, 4, device=device))
        sem = torch.full((1, size, size), 255, dtype=torch.long)
        sem[0, size // 2:] = 100  # one stuff segment
        s.gt_sem_seg = PixelData(sem_seg=sem.to(device))
        samples.append(s)
    return inputs, samples


def _build(impl, device):
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, MODELS
    from m2f_mm.models.mmdet_key_mapping import mmdet_head_key_map
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


def worker(impl, mode, size, iters, device):
    """Time ``iters`` steps after one warm-up; print one JSON line."""
    import torch
    model = _build(impl, device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    if mode == 'train':
        model.train()
        inputs, samples = _batch(size, 2, device)
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

        def step():
            optim.zero_grad()
            losses = model.loss(inputs, samples)
            sum(v.sum() for v in losses.values()).backward()
            optim.step()
    else:
        model.eval()
        inputs, samples = _batch(size, 1, device)
        if impl == 'm2f_mm':  # the same work as mmdet's: panoptic + instance
            model.panoptic_fusion_head.inference.semantic_on = False

        def step():
            with torch.no_grad():
                model.predict(inputs, samples)
    times = []
    for i in range(iters + 1):
        sync()
        start = time.perf_counter()
        step()
        sync()
        if i:  # the first call is warm-up
            times.append(time.perf_counter() - start)
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith('cuda') else None
    print(json.dumps(dict(impl=impl, mode=mode, seconds=statistics.median(times),
                          peak_rss_mb=_peak_rss_mb(), peak_gpu_mb=gpu_mb)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--modes', nargs='+', default=['train', 'infer'])
    parser.add_argument('--worker', nargs=2, metavar=('IMPL', 'MODE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.size, args.iters, args.device)
        return
    results = {}
    for mode in args.modes:
        for impl in ('mmdet', 'm2f_mm'):
            print(f'[bench] {impl} {mode}: {args.iters} steps at {args.size}x{args.size} '
                  f'on {args.device} ...', flush=True)
            out = subprocess.run(
                [sys.executable, __file__, '--worker', impl, mode, '--size', str(args.size),
                 '--iters', str(args.iters), '--device', args.device],
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


if __name__ == '__main__':
    main()
