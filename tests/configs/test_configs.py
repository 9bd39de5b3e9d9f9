"""Every config in configs/ builds its model (no data needed) with m2f_mm's head: the
model-zoo configs in tests/configs/test_model_zoo.py (which builds each once for all its
checks), the others here."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS

import m2f_mm  # noqa: F401
from ._builds import check_builds

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs')
CONFIGS = sorted(p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
                 if '_base_' not in p)
OUTSIDE_ZOO = [p for p in CONFIGS if osp.basename(osp.dirname(p)) != 'mask2former']


def test_configs_are_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert {'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py', 'mask2former_r50_8xb2-lsj-50e_coco.py',
            'mask2former_r50_8xb2-160k_ade20k-512x512.py',
            'mask2former_r50_8xb2-90k_cityscapes-512x1024.py'} <= names
    assert any('toy-panoptic' in n for n in names) and any('toy-semantic' in n for n in names)


@pytest.mark.parametrize('path', OUTSIDE_ZOO, ids=[osp.basename(p) for p in OUTSIDE_ZOO])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    check_builds(cfg, model)


def test_paper_recipes_keep_the_reference_defaults():
    """The settings the R50 panoptic config runs with (the code's defaults, which the
    config does not restate), checked on the model it builds."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former',
                                   'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    head = model.panoptic_head
    assert head.num_queries == 100 and head.num_classes == 133
    encoder_layers = head.pixel_decoder.transformer.encoder.layers
    assert len(encoder_layers) == 6 and encoder_layers[0].linear1.out_features == 1024
    assert head.predictor.num_layers == 9
    crit = head.criterion
    assert (crit.cls_loss_weight, crit.mask_loss_weight, crit.dice_loss_weight) == (2.0, 5.0, 5.0)
    assert crit.empty_weight[-1].item() == pytest.approx(0.1)
    assert (crit.num_points, crit.oversample_ratio, crit.importance_sample_ratio) == \
        (12544, 3.0, 0.75)
    matcher = crit.matcher
    assert (matcher.cost_class, matcher.cost_mask, matcher.cost_dice, matcher.num_points) == \
        (2.0, 5.0, 5.0, 12544)
    inference = model.panoptic_fusion_head.inference
    assert (inference.object_mask_threshold, inference.overlap_threshold) == (0.8, 0.8)
    assert inference.panoptic_on and inference.semantic_on and inference.instance_on
    assert cfg.optim_wrapper.optimizer.lr == 1e-4 and cfg.optim_wrapper.clip_grad.max_norm == 0.01
    assert cfg.train_cfg.max_iters == 368750
    ade = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former',
                                   'mask2former_r50_8xb2-160k_ade20k-512x512.py'))
    assert ade.train_cfg.max_iters == 160000 and ade.crop_size == (512, 512)
    city = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former',
                                    'mask2former_r50_8xb2-90k_cityscapes-512x1024.py'))
    assert city.train_cfg.max_iters == 90000 and city.crop_size == (512, 1024)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_evaluation_is_batch_1(path):
    """Padding a batch to its largest image changes the predictions of the smaller
    ones, so every shipped config evaluates one image at a time, as the reference."""
    cfg = Config.fromfile(path)
    for loader in ('val_dataloader', 'test_dataloader'):
        assert cfg[loader].batch_size == 1, loader
