"""m2f_mm's registries: scope-qualified lookup from any default scope, and the build helper."""
import mmdet.registry
import mmseg.registry
import pytest
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import TASK_UTILS as ROOT_TASK_UTILS
from mmengine.registry import DefaultScope
from torch import nn

import m2f_mm  # noqa: F401  (registers the plugin)
from m2f_mm.registry import MODELS, TASK_UTILS, build_in_plugin_scope, qualify_plugin_type


def test_registries_are_scoped_children_of_mmengine_roots():
    assert MODELS.scope == 'm2f_mm' and MODELS.parent is ROOT_MODELS
    assert TASK_UTILS.scope == 'm2f_mm' and TASK_UTILS.parent is ROOT_TASK_UTILS
    assert ROOT_MODELS._children['m2f_mm'] is MODELS


@pytest.mark.parametrize('default_scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('name', ['Mask2FormerHead', 'MSDeformAttnPixelDecoder',
                                  'Mask2FormerDecodeHead', 'Mask2FormerDetector'])
def test_qualified_name_resolves_from_host_scope(default_scope, name):
    with DefaultScope.overwrite_default_scope(default_scope):
        cls = ROOT_MODELS.get(f'm2f_mm.{name}')
        assert cls is MODELS.module_dict[name]
        assert cls.__module__.startswith('m2f_mm.')


def test_qualified_name_resolves_from_host_registries():
    assert mmdet.registry.MODELS.get('m2f_mm.Mask2FormerHead') is MODELS.module_dict['Mask2FormerHead']
    assert mmseg.registry.MODELS.get('m2f_mm.Mask2FormerHead') is MODELS.module_dict['Mask2FormerHead']
    assert mmdet.registry.TASK_UTILS.get('m2f_mm.HungarianMatcher') is \
        TASK_UTILS.module_dict['HungarianMatcher']


@pytest.fixture
def colliding_plugin_class():
    """A plugin class registered under a name that mmdet also registers."""

    class DiceLoss(nn.Module):
        pass

    MODELS.register_module(module=DiceLoss)
    yield DiceLoss
    MODELS._module_dict.pop('DiceLoss')


def test_bare_name_trap_and_helper(colliding_plugin_class):
    with DefaultScope.overwrite_default_scope('mmdet'):
        # The trap: a plain build in mmdet's default scope takes mmdet's class.
        plain = mmdet.registry.MODELS.build(dict(type='DiceLoss'))
        assert type(plain).__module__.startswith('mmdet.')
        # The helper resolves plugin names first ...
        assert type(build_in_plugin_scope(dict(type='DiceLoss'))) is colliding_plugin_class
        # ... and leaves names the plugin does not have to the default scope.
        resnet = build_in_plugin_scope(dict(type='ResNet', depth=18))
        assert type(resnet).__module__.startswith('mmdet.')


def test_helper_keeps_explicit_scopes(colliding_plugin_class):
    cfg = qualify_plugin_type(dict(type='mmdet.DiceLoss'))
    assert cfg['type'] == 'mmdet.DiceLoss'
    assert qualify_plugin_type(dict(type='DiceLoss'))['type'] == 'm2f_mm.DiceLoss'
    with DefaultScope.overwrite_default_scope('mmseg'):
        assert type(build_in_plugin_scope(dict(type='DiceLoss'))) is colliding_plugin_class


def test_custom_imports_config_builds_plugin_model():
    from mmengine.config import Config
    cfg = Config(dict(custom_imports=dict(imports=['m2f_mm'], allow_failed_imports=False),
                      loss=dict(type='m2f_mm.Mask2FormerCriterion', num_classes=3)))
    with DefaultScope.overwrite_default_scope('mmdet'):
        loss = mmdet.registry.MODELS.build(cfg.loss)
    assert type(loss) is MODELS.module_dict['Mask2FormerCriterion']
