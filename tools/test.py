"""Evaluate a checkpoint with the mmengine Runner (mmdet or mmseg configs alike).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl]
                         [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher ...]
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


def enable_tta(cfg: Config, config: str) -> None:
    """Test with the config's ``tta_pipeline`` and wrap its model in ``tta_model``, as
    mmseg's tools/test.py does; mmseg configs only (mmdet's detector has no TTA here)."""
    if cfg.get('default_scope') != 'mmseg':
        sys.exit(f'test.py: error: --tta is for mmseg (semantic) configs; {config} has '
                 f"default_scope={cfg.get('default_scope')!r}")
    missing = [key for key in ('tta_model', 'tta_pipeline') if not cfg.get(key)]
    if missing:
        sys.exit(f'test.py: error: --tta needs {" and ".join(missing)} in the config; '
                 f'{config} has none')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def main():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentation model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='write prediction visualisations (PNG) here')
    parser.add_argument('--tta', action='store_true',
                        help="test-time augmentation: the config's tta_pipeline and tta_model "
                             '(mmseg configs)')
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
    if args.tta:
        enable_tta(cfg, args.config)
    with exit_on_user_error('test.py'):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        if args.out:
            runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
        runner.test()
    close_distributed()


if __name__ == '__main__':
    main()
