"""Evaluate a checkpoint with the mmengine Runner (mmdet or mmseg configs alike).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
                         [--show-dir DIR] [--cfg-options k=v ...] [--launcher ...]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's m2f_mm

from mmengine.config import Config  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402
import torch  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from m2f_mm.utils import (add_common_args, add_custom_hook, close_distributed,  # noqa: E402
                          exit_on_user_error, load_config, parse_tool_args)
from m2f_mm.utils.cpu_allocator import keep_freed_memory  # noqa: E402


def enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turn on the host library's visualization hook, writing PNGs to ``show_dir``."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        sys.exit('test.py: --show-dir needs default_hooks.visualization in the config')
    hook['draw'] = True
    hook['interval'] = 1
    if hook['type'].endswith('DetVisualizationHook'):
        hook['test_out_dir'] = osp.abspath(show_dir)
    else:  # mmseg's SegVisualizationHook saves through the visualizer
        cfg.visualizer['save_dir'] = osp.abspath(show_dir)


def main():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentation model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='write prediction visualisations (PNG) here')
    add_common_args(parser)
    args = parse_tool_args(parser)
    if not torch.cuda.is_available():  # CPU runs: see m2f_mm.utils.cpu_allocator
        print(f'test.py: {keep_freed_memory()}', flush=True)
    if not osp.isfile(args.checkpoint):
        sys.exit(f'test.py: checkpoint file not found: {args.checkpoint}')
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        sys.exit(f'test.py: --out must end with .pkl, got {args.out}')
    with exit_on_user_error('test.py'):
        cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from = args.checkpoint
    # A checkpoint for another class count stops with one line instead of evaluating nonsense.
    add_custom_hook(cfg, dict(type='m2f_mm.ClassCountHook'))
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)
    with exit_on_user_error('test.py'):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        if args.out:
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
        runner.test()
    close_distributed()


if __name__ == '__main__':
    main()
