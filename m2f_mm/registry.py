"""m2f_mm's registries: children of mmengine's root registries, scope ``m2f_mm``.

After ``custom_imports=dict(imports=['m2f_mm'])`` any config, whatever its
``default_scope`` (``mmdet``, ``mmseg``), can name a plugin class as
``type='m2f_mm.<Name>'``. ``locations`` lets the first lookup import the
modules that register the classes, among them the parts for each installed
host library (``import m2f_mm`` itself imports only the host-free core).

Bare names inside a config are resolved in the *current default scope*. mmdet
registers classes with the same names as ours (``Mask2FormerHead``,
``MSDeformAttnPixelDecoder``, ...), so plugin code builds its sub-modules with
:func:`build_in_plugin_scope`, never with a bare ``MODELS.build``.
"""
import copy
from typing import Any

from mmengine.config import ConfigDict
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

from m2f_mm.utils.arguments import check_arguments

__all__ = ['MODELS', 'TASK_UTILS', 'TRANSFORMS', 'DATASETS', 'METRICS', 'OPTIM_WRAPPERS',
           'HOOKS', 'SCOPE', 'build_in_plugin_scope', 'qualify_plugin_type']

SCOPE = 'm2f_mm'

MODELS = Registry('model', parent=MMENGINE_MODELS, scope=SCOPE,
                  locations=['m2f_mm.models', 'm2f_mm.adapters'])
TASK_UTILS = Registry('task util', parent=MMENGINE_TASK_UTILS, scope=SCOPE,
                      locations=['m2f_mm.models'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE,
                      locations=['m2f_mm.datasets'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope=SCOPE,
                    locations=['m2f_mm.datasets'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope=SCOPE,
                   locations=['m2f_mm.evaluation'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE, locations=['m2f_mm.engine'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE,
                          locations=['m2f_mm.engine'])


def qualify_plugin_type(cfg: dict, registry: Registry = MODELS) -> ConfigDict:
    """Return a copy of ``cfg`` whose bare ``type`` is scope-qualified if it is ours.

    A bare name that ``registry`` (one of ours) holds becomes
    ``m2f_mm.<Name>``; any other name, bare or qualified, is left to the
    current default scope, so ``type='ResNet'`` under ``default_scope='mmdet'``
    still means mmdet's ResNet. Use it where a host class builds the config,
    e.g. before passing a sub-config to an mmdet constructor.

    Args:
        cfg: Config dict with a ``type`` key (a class is also accepted).
        registry: One of m2f_mm's registries.

    Returns:
        A deep copy of ``cfg``.
    """
    cfg = ConfigDict(copy.deepcopy(dict(cfg)))
    registry.import_from_location()  # register the host parts before looking names up
    obj_type = cfg.get('type')
    if isinstance(obj_type, str) and '.' not in obj_type and obj_type in registry.module_dict:
        cfg['type'] = f'{SCOPE}.{obj_type}'
    return cfg


def build_in_plugin_scope(cfg: dict, registry: Registry = MODELS, where: str = '',
                          **default_args: Any) -> Any:
    """Build ``cfg`` with its bare ``type`` resolved in m2f_mm's registry first.

    See :func:`qualify_plugin_type`. Plugin code builds every sub-module
    through this helper, never with a bare ``registry.build``.

    Args:
        cfg: Config dict with a ``type`` key (a class is also accepted).
        registry: One of m2f_mm's registries.
        where: The config key of ``cfg`` (e.g. ``model.decode_head.criterion``): with
            it, a key that the class does not take is reported by name, with the
            nearest valid key.
        **default_args: Passed to ``registry.build``.

    Returns:
        The built object.
    """
    cfg = qualify_plugin_type(cfg, registry)
    target = registry.get(cfg['type']) if isinstance(cfg.get('type'), str) else cfg.get('type')
    if where and isinstance(target, type):
        check_arguments(target, cfg, where)
    return registry.build(cfg, default_args=default_args or None)
