"""Quickstart main job: toy data -> train panoptic (mmdet) and semantic (mmseg) -> evaluate.

1. writes the deterministic toy dataset (tools/generate_toy_data.py) under data/toy;
2. trains the toy panoptic Mask2Former through mmdet and the toy semantic one through
   mmseg's stock EncoderDecoder, each with tools/train.py (progress from mmengine's logger);
3. evaluates each final checkpoint with tools/test.py: PQ, mask AP and mIoU of the
   panoptic model, mIoU of the semantic model, with prediction visualisations (PNG);
4. writes a metrics summary (JSON + Markdown) and prints where everything is.

    python tools/quickstart.py [--work-dir work_dirs/quickstart] [--iters 600]
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASKS = {
    'panoptic': dict(config='configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py',
                     metrics=('coco_panoptic/PQ', 'coco_panoptic/PQ_th', 'coco_panoptic/PQ_st',
                              'coco/segm_mAP', 'mIoU')),
    'semantic': dict(config='configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py',
                     metrics=('mIoU', 'aAcc')),
}


def run(cmd):
    """Run a tool with this interpreter; its output streams through."""
    print(f'[quickstart] $ {" ".join(cmd)}', flush=True)
    subprocess.run([sys.executable] + cmd, cwd=REPO, check=True)


def logged_metrics(run_dir: str) -> dict:
    """The metrics of the last evaluation logged under a work dir (mmengine's JSON log)."""
    # Test runs log to <run>/<time>/<time>.json, training to <run>/<time>/vis_data/.
    logs = sorted(glob.glob(osp.join(run_dir, '**', '*.json'), recursive=True),
                  key=osp.getmtime)
    for log in reversed(logs):
        with open(log) as f:
            records = [json.loads(line) for line in f if line.strip()]
        evals = [r for r in records if 'mIoU' in r or 'coco_panoptic/PQ' in r]
        if evals:
            return evals[-1]
    raise FileNotFoundError(f'no evaluation results logged under {run_dir}')


def save_untrained_checkpoint(config: str, path: str) -> str:
    """Save the model of ``config`` at its initial weights (seed 0) as a checkpoint
    that tools/test.py loads: the reference an evaluation of learning needs."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope, MODELS
    cfg = Config.fromfile(osp.join(REPO, config))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def save_png_samples(vis_dir: str, out_dir: str, count: int = 4) -> list:
    """Copy the first ``count`` visualisations as PNG (mmdet's hook keeps the .jpg name)."""
    import mmcv
    images = sorted(glob.glob(osp.join(vis_dir, '**', '*.jpg'), recursive=True) +
                    glob.glob(osp.join(vis_dir, '**', '*.png'), recursive=True))[:count]
    saved = []
    for path in images:
        saved.append(osp.join(out_dir, osp.splitext(osp.basename(path))[0] + '.png'))
        mmcv.imwrite(mmcv.imread(path), saved[-1])
    return saved


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'quickstart'))
    parser.add_argument('--iters', type=int, default=600, help='training iterations per model')
    args = parser.parse_args()
    work_dir = osp.abspath(args.work_dir)
    start = time.time()

    # The toy configs read <repo>/data/toy, the generator's default output.
    run(['tools/generate_toy_data.py'])
    summary = {}
    for task, spec in TASKS.items():
        task_dir = osp.join(work_dir, task)
        config = osp.join(REPO, spec['config'])
        options = [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}',
                   f'param_scheduler.1.end={args.iters}',
                   f'param_scheduler.1.milestones=[{int(args.iters * 0.85)}]']
        run(['tools/train.py', config, '--work-dir', osp.join(task_dir, 'train'),
             '--cfg-options', *options])
        checkpoint = osp.join(task_dir, 'train', f'iter_{args.iters}.pth')
        vis_dir = osp.join(task_dir, 'vis')
        run(['tools/test.py', config, checkpoint, '--work-dir', osp.join(task_dir, 'test'),
             '--show-dir', vis_dir])
        tested = logged_metrics(osp.join(task_dir, 'test'))
        pngs = save_png_samples(vis_dir, osp.join(work_dir, 'visualisations', task))
        summary[task] = dict(
            config=spec['config'], checkpoint=checkpoint, visualisations=pngs,
            metrics={k: tested[k] for k in spec['metrics']},
            logged_at_end_of_training={k: logged_metrics(osp.join(task_dir, 'train'))[k]
                                       for k in spec['metrics']})

    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    lines = ['| task | metric | value |', '|---|---|---|']
    for task, result in summary.items():
        lines += [f'| {task} | {k} | {v:.2f} |' for k, v in result['metrics'].items()]
    with open(osp.join(work_dir, 'metrics.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n[quickstart] results (toy val set):')
    print('\n'.join(lines))
    print(f'[quickstart] metrics summary: {osp.join(work_dir, "metrics.md")} (and metrics.json)')
    for task, result in summary.items():
        print(f'[quickstart] {task}: checkpoint {result["checkpoint"]}; prediction '
              f'visualisations {osp.join(work_dir, "visualisations", task)}/*.png '
              f'(all val images under {osp.join(work_dir, task, "vis")})')
    print(f'[quickstart] done in {(time.time() - start) / 60:.1f} min')


if __name__ == '__main__':
    main()
