"""Locate the configs that mmdet and mmseg install inside their packages."""
import importlib
import os.path as osp

__all__ = ['installed_config_path']


def installed_config_path(package: str, relative_path: str) -> str:
    """Path of ``<package>/.mim/configs/<relative_path>``.

    Args:
        package: ``'mmdet'`` or ``'mmseg'``.
        relative_path: e.g. ``'mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'``.

    Raises:
        FileNotFoundError: naming the path when the config is not installed.
    """
    root = osp.dirname(importlib.import_module(package).__file__)
    path = osp.join(root, '.mim', 'configs', relative_path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{package} config not found: {path}')
    return path
