"""Train a model from a config with the mmengine Runner (mmdet or mmseg configs alike).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT|auto]] [--reset-classes] [--amp]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

Every run gets m2f_mm's crash safety: checkpoints written atomically
(m2f_mm.AtomicCheckpointHook in place of CheckpointHook), every rank's random
state saved with them (m2f_mm.RandomStateHook), and a lock on the work dir.
A ``load_from`` trained for another class count stops with one line, or is
fine-tuned with ``--reset-classes`` (m2f_mm.ClassCountHook).
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's m2f_mm

import torch  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from m2f_mm.engine import is_complete_checkpoint, resumable_checkpoint  # noqa: E402
from m2f_mm.engine.checkpoint import NoCheckpointError  # noqa: E402
from m2f_mm.utils import (add_common_args, add_custom_hook, close_distributed,  # noqa: E402
                          exit_on_user_error, load_config, parse_tool_args)
from m2f_mm.utils.cpu_allocator import keep_freed_memory  # noqa: E402
from m2f_mm.utils.work_dir_lock import lock_work_dir  # noqa: E402


def _resume(cfg, resume: str) -> None:
    """Point the config at the checkpoint to resume (see --resume)."""
    if resume in ('latest', 'auto'):
        try:
            path, note = resumable_checkpoint(cfg.work_dir)
        except NoCheckpointError as err:
            if resume == 'auto':
                print(f'train.py: {err}; starting from scratch (--resume auto)', flush=True)
                return
            raise NoCheckpointError(f'{err}; use --resume auto to start from scratch when '
                                    'there is none') from None
        if note:
            print(f'train.py: {note}', flush=True)
    elif is_complete_checkpoint(resume):
        path = resume
    else:
        raise NoCheckpointError(f'--resume {resume}: not a complete checkpoint file '
                                '(missing, empty or truncated)')
    cfg.resume, cfg.load_from = True, path


def _crash_safe(cfg) -> None:
    """Swap in the atomic checkpoint hook and add the random-state hook."""
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint is not None and checkpoint.get('type') in ('CheckpointHook',
                                                             'mmengine.CheckpointHook'):
        checkpoint.type = 'm2f_mm.AtomicCheckpointHook'
    add_custom_hook(cfg, dict(type='m2f_mm.RandomStateHook'))


def _amp(cfg) -> None:
    """fp16 with a dynamic loss scaler on CUDA (mmengine); bf16 autocast elsewhere."""
    import torch
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'm2f_mm.AutocastOptimWrapper'
        cfg.optim_wrapper.setdefault('dtype', 'bfloat16')


def main():
    parser = argparse.ArgumentParser(description='Train a segmentation model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='latest',
                        help='resume from CKPT; without CKPT, from the newest complete '
                             'checkpoint in the work dir (an error if there is none); '
                             '"auto": resume if possible, else start from scratch')
    parser.add_argument('--reset-classes', action='store_true',
                        help='fine-tuning: when load_from was trained for another class count, '
                             're-initialise class_embed and criterion.empty_weight instead of '
                             'stopping')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with a loss scaler on a GPU, bf16 on CPU')
    add_common_args(parser)
    args = parse_tool_args(parser)
    if not torch.cuda.is_available():  # CPU runs: see m2f_mm.utils.cpu_allocator
        print(f'train.py: {keep_freed_memory()}', flush=True)
    with exit_on_user_error('train.py'):
        cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
        _crash_safe(cfg)
        add_custom_hook(cfg, dict(type='m2f_mm.ClassCountHook', reset_classes=args.reset_classes))
        if args.amp:
            _amp(cfg)
        rank = int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')))
        lock = lock_work_dir(cfg.work_dir) if rank == 0 else None  # noqa: F841 (held)
        if args.resume:
            _resume(cfg, args.resume)
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
