"""Quickstart main job: build Mask2Former from its config and run it on the bundled images.

A smoke run of the whole inference path (config -> mmdet detector with m2f_mm's
head -> panoptic, instance and semantic results) on the COCO sample images in
../shared/data/coco_panoptic_sample. The weights are untrained, so the
predictions themselves are meaningless; the run shows that everything is wired.

    python tools/quickstart.py [--config CFG] [--images DIR] [--size 384]
"""
import argparse
import os.path as osp
import sys
import time
from glob import glob

import mmcv
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'mask2former',
                          'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
DEFAULT_IMAGES = osp.join(REPO, '..', 'shared', 'data', 'coco_panoptic_sample', 'images')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--images', default=DEFAULT_IMAGES, help='folder of .jpg/.png images')
    parser.add_argument('--size', type=int, default=384, help='longer image side after resize')
    return parser.parse_args()


def main():
    args = parse_args()
    paths = sorted(glob(osp.join(args.images, '*.jpg')) + glob(osp.join(args.images, '*.png')))
    if not paths:
        sys.exit(f'quickstart: no .jpg/.png images in --images {osp.abspath(args.images)}')
    import m2f_mm
    print(f'[quickstart] {m2f_mm.version_summary()}')
    cfg = Config.fromfile(args.config)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model).eval()
    print(f'[quickstart] built {type(model).__name__} from {osp.relpath(args.config, REPO)}: '
          f'{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, head '
          f'{type(model.panoptic_head).__module__}.{type(model.panoptic_head).__name__}')
    for path in paths:
        img = mmcv.imread(path)
        resized, scale = mmcv.imrescale(img, (args.size, args.size), return_scale=True)
        sample = DetDataSample(metainfo=dict(img_shape=resized.shape[:2],
                                             ori_shape=img.shape[:2], scale_factor=(scale, scale)))
        data = dict(inputs=[torch.from_numpy(resized).permute(2, 0, 1)], data_samples=[sample])
        start = time.perf_counter()
        with torch.no_grad():
            result = model.test_step(data)[0]
        seconds = time.perf_counter() - start
        pan = result.pred_panoptic_seg.sem_seg
        print(f'[quickstart] {osp.basename(path)} {img.shape[1]}x{img.shape[0]} -> '
              f'{resized.shape[1]}x{resized.shape[0]} in {seconds:.1f} s: panoptic map '
              f'{tuple(pan.shape)}, {len(result.pred_instances)} instances, semantic map '
              f'{tuple(result.pred_sem_seg.sem_seg.shape)} (untrained weights)')
    print('[quickstart] done: config -> model -> panoptic, instance and semantic results')


if __name__ == '__main__':
    main()
