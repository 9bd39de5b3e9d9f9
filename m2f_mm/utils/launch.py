"""Command-line options and config loading shared by tools/train.py and tools/test.py."""
import argparse
import contextlib
import os
import os.path as osp
import subprocess
import sys
from typing import Iterator, Optional

from mmengine.config import Config, DictAction

from .errors import DataError

__all__ = ['add_common_args', 'add_custom_hook', 'parse_tool_args', 'load_config',
           'exit_on_user_error', 'init_cpu_distributed', 'close_distributed']


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument('--work-dir', help='where logs (and checkpoints) go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK itself.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export the local rank for the distributed launcher."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load ``config`` and apply the command-line options every tool accepts.

    Args:
        config: Path of the config file.
        cfg_options: Key overrides (``--cfg-options``), merged last.
        work_dir: ``--work-dir``; otherwise the config's ``work_dir``, otherwise
            ``work_dirs/<config name>``.
        launcher: ``--launcher``.

    Returns:
        The config, ready for ``Runner.from_cfg``.

    Raises:
        FileNotFoundError: naming the config path when it does not exist.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    init_cpu_distributed(cfg)
    return cfg


def add_custom_hook(cfg: Config, hook: dict) -> None:
    """Append ``hook`` to ``cfg.custom_hooks`` unless a hook of its type is there already."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    name = hook['type'].split('.')[-1]
    if not any(str(h.get('type', '')).split('.')[-1] == name for h in hooks):
        hooks.append(hook)
    cfg.custom_hooks = hooks


def close_distributed() -> None:
    """Leave the process group together at the end of a run. mmengine leaves it
    open, and gloo's threads can then abort the interpreter at exit ("terminate
    called without an active exception") after all the work is done."""
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def init_cpu_distributed(cfg: Config) -> None:
    """Start a multi-process run on a node without GPUs, which mmengine's launchers
    cannot: they set a CUDA device, default to NCCL and give DDP a device id.

    With ``--launcher pytorch`` (torchrun) or ``slurm`` (srun) and no CUDA, the
    process group is initialised here with gloo (the Runner then keeps it), and
    the model is wrapped in DDP without device ids. With CUDA, nothing changes.

    Raises:
        DataError: For ``--launcher mpi`` without CUDA.
    """
    import torch
    import torch.distributed as torch_dist
    if cfg.launcher == 'none' or torch.cuda.is_available() or torch_dist.is_initialized():
        return
    if cfg.launcher == 'slurm':
        env = os.environ
        first_node = subprocess.getoutput(
            f'scontrol show hostnames {env["SLURM_NODELIST"]} | head -n1')
        env.setdefault('MASTER_ADDR', first_node)
        env.setdefault('MASTER_PORT', '29500')
        env.update(WORLD_SIZE=env['SLURM_NTASKS'], RANK=env['SLURM_PROCID'],
                   LOCAL_RANK=env.get('SLURM_LOCALID', '0'))
    elif cfg.launcher != 'pytorch':
        raise DataError(f'--launcher {cfg.launcher} needs CUDA; on CPU use pytorch or slurm')
    torch_dist.init_process_group('gloo')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.setdefault('model_wrapper_cfg', dict(type='MMDistributedDataParallel'))
    cfg.model_wrapper_cfg['device_ids'] = None
    if torch_dist.get_rank() == 0:
        print(f'[m2f_mm] no GPU: {torch_dist.get_world_size()} processes on the CPU '
              f'(gloo, --launcher {cfg.launcher})', flush=True)


@contextlib.contextmanager
def exit_on_user_error(tool: str) -> Iterator[None]:
    """Turn errors in the user's data or config into one line and exit status 1.

    Bugs keep their traceback: only missing files, :class:`DataError` (and its
    subclasses), mmcv's "failed to load image" (a corrupt image) and mmengine's
    failure to serialise an empty dataset are caught.
    """
    try:
        yield
    except (FileNotFoundError, DataError) as err:
        sys.exit(f'{tool}: error: {err}')
    except ValueError as err:
        # mmengine's BaseDataset concatenates the serialised samples; an empty
        # dataset fails there with numpy's message, prefixed by the class name.
        if 'need at least one array to concatenate' not in str(err):
            raise
        sys.exit(f'{tool}: error: a dataset has no samples ({err}); check its data_root, '
                 'ann_file and data_prefix')
    except AssertionError as err:
        if not str(err).startswith('failed to load image'):
            raise
        sys.exit(f'{tool}: error: {err} (missing, empty or corrupt image)')
