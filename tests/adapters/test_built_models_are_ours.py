"""Models built from the task configs use m2f_mm's Mask2Former parts, never mmdet's or mmseg's."""
import os.path as osp

import pytest
from mmdet.models.dense_heads import Mask2FormerHead as MMDetMask2FormerHead
from mmdet.models.layers import Mask2FormerTransformerDecoder, MSDeformAttnPixelDecoder
from mmdet.models.seg_heads import MaskFormerFusionHead
from mmdet.models.task_modules import HungarianAssigner
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS
from mmseg.models.decode_heads import Mask2FormerHead as MMSegMask2FormerHead
from torch import nn

import m2f_mm  # noqa: F401

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mask2former')
FORBIDDEN = (MMDetMask2FormerHead, MSDeformAttnPixelDecoder, Mask2FormerTransformerDecoder,
             MaskFormerFusionHead, HungarianAssigner, MMSegMask2FormerHead)
MASK2FORMER_WORDS = ('Mask2Former', 'MaskFormer', 'MSDeformAttn', 'Hungarian', 'Masked')


def _objects(model):
    """Every sub-module, plus the plain objects they hold (matcher, inference)."""
    for module in model.modules():
        yield module
        for value in vars(module).values():
            if not isinstance(value, (nn.Module, dict, list, tuple, str, int, float, bool)) \
                    and value is not None and hasattr(value, '__dict__'):
                yield value


def _build(config_name):
    cfg = Config.fromfile(osp.join(CONFIGS, config_name))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('config_name,head_attr', [
    ('mask2former_r50_8xb2-lsj-50e_coco-panoptic.py', 'panoptic_head'),
    ('mask2former_r50_8xb2-lsj-50e_coco.py', 'panoptic_head'),
    ('mask2former_r50_8xb2-160k_ade20k-512x512.py', 'decode_head'),
])
def test_every_mask2former_component_is_ours(config_name, head_attr):
    model = _build(config_name)
    head = getattr(model, head_attr)
    assert type(head).__module__.startswith('m2f_mm.')
    assert type(head.criterion.matcher).__module__ == 'm2f_mm.models.matcher'
    seen = 0
    for obj in _objects(model):
        cls = type(obj)
        assert not isinstance(obj, FORBIDDEN), f'{config_name}: {cls} is not ours'
        if any(word in cls.__name__ for word in MASK2FORMER_WORDS):
            assert cls.__module__.startswith('m2f_mm.'), f'{config_name}: {cls} is not ours'
            seen += 1
    assert seen >= 4  # head, pixel decoder, transformer decoder, matcher at least


def test_frozen_backbone_norms_run_as_frozen_batch_norm():
    from m2f_mm.models.layers.frozen_batch_norm import FrozenBatchNorm2d
    model = _build('mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 53 and all(type(m) is FrozenBatchNorm2d for m in norms)


def test_backbone_convolutions_run_as_pointwise_conv():
    from m2f_mm.models.layers.pointwise_conv import Conv2d
    model = _build('mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 53 and all(type(m) is Conv2d for m in convs)


def test_backbone_max_pool_runs_as_channels_last_max_pool():
    from m2f_mm.models.layers.max_pool import MaxPool2d
    model = _build('mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
    pools = [m for m in model.backbone.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 1 and type(pools[0]) is MaxPool2d
