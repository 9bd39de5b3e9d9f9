"""Train a model from a config with the mmengine Runner (mmdet or mmseg configs alike).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's m2f_mm

from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from m2f_mm.utils import (add_common_args, exit_on_user_error, load_config,  # noqa: E402
                          parse_tool_args)


def main():
    parser = argparse.ArgumentParser(description='Train a segmentation model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir '
                             'when no CKPT is given')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training (GPU)')
    add_common_args(parser)
    args = parse_tool_args(parser)
    with exit_on_user_error('train.py'):
        cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            sys.exit('train.py: --amp needs a GPU (mmengine AmpOptimWrapper); '
                     'drop --amp to train in fp32 on CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    with exit_on_user_error('train.py'):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.train()


if __name__ == '__main__':
    main()
