"""Config loading shared by tools/train.py and tools/test.py."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

__all__ = ['load_config']


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
    return cfg
