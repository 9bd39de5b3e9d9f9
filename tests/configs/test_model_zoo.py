"""The model zoo configs build the paper's models and recipes.

Per config: the parameter count of the backbone (against published ImageNet figures), of
the pixel decoder and the transformer decoder (against a count derived here from the
architecture), and of the whole model (against the paper, for COCO panoptic); the query
count, crop, schedule and Swin settings; and the optimiser's per-parameter learning rate
and weight decay, built by mmengine's constructor from the config.
"""
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS, DefaultScope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import m2f_mm  # noqa: F401
from ._builds import check_builds

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mask2former')

# Classes (K) of each dataset.
COCO_PANOPTIC, COCO_INSTANCE, ADE20K, CITYSCAPES = 133, 80, 150, 19
# The paper's other datasets (m2f_mm.datasets.definitions): ADE20K's and Cityscapes' things,
# Mapillary Vistas v1.2.
ADE20K_THINGS, CITYSCAPES_THINGS, MAPILLARY = 100, 8, 65
# The paper's COCO schedules (MASK2FORMER.md; the reference's Swin-L config for 100 epochs):
# iterations and the two steps of the x0.1 decay.
COCO_50E = (368750, [327778, 355092])
COCO_100E = (737500, [655556, 710184])

ZOO = [
    # config, backbone, K, queries, crop, iterations
    ('mask2former_r50_8xb2-lsj-50e_coco-panoptic.py', 'r50', COCO_PANOPTIC, 100, (1024, 1024),
     COCO_50E),
    ('mask2former_r101_8xb2-lsj-50e_coco-panoptic.py', 'r101', COCO_PANOPTIC, 100, (1024, 1024),
     COCO_50E),
    ('mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py', 'swin-t', COCO_PANOPTIC, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco-panoptic.py', 'swin-s', COCO_PANOPTIC, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-b-p4-w12-384_8xb2-lsj-50e_coco-panoptic.py', 'swin-b', COCO_PANOPTIC, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco-panoptic.py', 'swin-b',
     COCO_PANOPTIC, 100, (1024, 1024), COCO_50E),
    ('mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco-panoptic.py', 'swin-l',
     COCO_PANOPTIC, 200, (1024, 1024), COCO_100E),
    ('mask2former_r50_8xb2-lsj-50e_coco.py', 'r50', COCO_INSTANCE, 100, (1024, 1024), COCO_50E),
    ('mask2former_r101_8xb2-lsj-50e_coco.py', 'r101', COCO_INSTANCE, 100, (1024, 1024), COCO_50E),
    ('mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py', 'swin-t', COCO_INSTANCE, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco.py', 'swin-s', COCO_INSTANCE, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-b-p4-w12-384_8xb2-lsj-50e_coco.py', 'swin-b', COCO_INSTANCE, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco.py', 'swin-b', COCO_INSTANCE, 100,
     (1024, 1024), COCO_50E),
    ('mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco.py', 'swin-l', COCO_INSTANCE, 200,
     (1024, 1024), COCO_100E),
    ('mask2former_r50_8xb2-160k_ade20k-512x512.py', 'r50', ADE20K, 100, (512, 512), 160000),
    ('mask2former_r101_8xb2-160k_ade20k-512x512.py', 'r101', ADE20K, 100, (512, 512), 160000),
    ('mask2former_swin-t_8xb2-160k_ade20k-512x512.py', 'swin-t', ADE20K, 100, (512, 512), 160000),
    ('mask2former_swin-s_8xb2-160k_ade20k-512x512.py', 'swin-s', ADE20K, 100, (512, 512), 160000),
    ('mask2former_swin-b-in1k-384x384-pre_8xb2-160k_ade20k-640x640.py', 'swin-b', ADE20K, 100,
     (640, 640), 160000),
    ('mask2former_swin-b-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py', 'swin-b', ADE20K, 100,
     (640, 640), 160000),
    ('mask2former_swin-l-in22k-384x384-pre_8xb2-160k_ade20k-640x640.py', 'swin-l', ADE20K, 100,
     (640, 640), 160000),
    ('mask2former_r50_8xb2-90k_cityscapes-512x1024.py', 'r50', CITYSCAPES, 100, (512, 1024),
     90000),
    ('mask2former_r101_8xb2-90k_cityscapes-512x1024.py', 'r101', CITYSCAPES, 100, (512, 1024),
     90000),
    ('mask2former_swin-t_8xb2-90k_cityscapes-512x1024.py', 'swin-t', CITYSCAPES, 100,
     (512, 1024), 90000),
    ('mask2former_swin-s_8xb2-90k_cityscapes-512x1024.py', 'swin-s', CITYSCAPES, 100,
     (512, 1024), 90000),
    ('mask2former_swin-b-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024.py', 'swin-b',
     CITYSCAPES, 100, (512, 1024), 90000),
    ('mask2former_swin-l-in22k-384x384-pre_8xb2-90k_cityscapes-512x1024.py', 'swin-l',
     CITYSCAPES, 100, (512, 1024), 90000),
    # The paper's other datasets (configs/_base_/paper_datasets.py); queries as the reference.
    ('mask2former_r50_8xb2-160k_ade20k-panoptic-640x640.py',
     'r50', ADE20K, 100, (640, 640), 160000),
    ('mask2former_swin-l-p4-w12-384-in21k_8xb2-160k_ade20k-panoptic-640x640.py',
     'swin-l', ADE20K, 200, (640, 640), 160000),
    ('mask2former_r50_8xb2-160k_ade20k-instance-640x640.py',
     'r50', ADE20K_THINGS, 100, (640, 640), 160000),
    ('mask2former_swin-l-p4-w12-384-in21k_8xb2-160k_ade20k-instance-640x640.py',
     'swin-l', ADE20K_THINGS, 200, (640, 640), 160000),
    ('mask2former_r50_8xb2-90k_cityscapes-panoptic-512x1024.py',
     'r50', CITYSCAPES, 100, (512, 1024), 90000),
    ('mask2former_r101_8xb2-90k_cityscapes-panoptic-512x1024.py',
     'r101', CITYSCAPES, 100, (512, 1024), 90000),
    ('mask2former_swin-t-p4-w7-224_8xb2-90k_cityscapes-panoptic-512x1024.py',
     'swin-t', CITYSCAPES, 100, (512, 1024), 90000),
    ('mask2former_swin-s-p4-w7-224_8xb2-90k_cityscapes-panoptic-512x1024.py',
     'swin-s', CITYSCAPES, 100, (512, 1024), 90000),
    ('mask2former_swin-b-p4-w12-384-in21k_8xb2-90k_cityscapes-panoptic-512x1024.py',
     'swin-b', CITYSCAPES, 100, (512, 1024), 90000),
    ('mask2former_swin-l-p4-w12-384-in21k_8xb2-90k_cityscapes-panoptic-512x1024.py',
     'swin-l', CITYSCAPES, 200, (512, 1024), 90000),
    ('mask2former_r50_8xb2-90k_cityscapes-instance-512x1024.py',
     'r50', CITYSCAPES_THINGS, 100, (512, 1024), 90000),
    ('mask2former_r101_8xb2-90k_cityscapes-instance-512x1024.py',
     'r101', CITYSCAPES_THINGS, 100, (512, 1024), 90000),
    ('mask2former_swin-t-p4-w7-224_8xb2-90k_cityscapes-instance-512x1024.py',
     'swin-t', CITYSCAPES_THINGS, 100, (512, 1024), 90000),
    ('mask2former_swin-s-p4-w7-224_8xb2-90k_cityscapes-instance-512x1024.py',
     'swin-s', CITYSCAPES_THINGS, 100, (512, 1024), 90000),
    ('mask2former_swin-b-p4-w12-384-in21k_8xb2-90k_cityscapes-instance-512x1024.py',
     'swin-b', CITYSCAPES_THINGS, 100, (512, 1024), 90000),
    ('mask2former_swin-l-p4-w12-384-in21k_8xb2-90k_cityscapes-instance-512x1024.py',
     'swin-l', CITYSCAPES_THINGS, 200, (512, 1024), 90000),
    ('mask2former_r50_8xb2-300k_mapillary-v1.2-panoptic-1024x1024.py',
     'r50', MAPILLARY, 100, (1024, 1024), 300000),
    ('mask2former_swin-l-p4-w12-384-in21k_8xb2-300k_mapillary-v1.2-panoptic-1024x1024.py',
     'swin-l', MAPILLARY, 200, (1024, 1024), 300000),
    ('mask2former_r50_8xb2-300k_mapillary-v1.2-semantic-1024x1024.py',
     'r50', MAPILLARY, 100, (1024, 1024), 300000),
    ('mask2former_swin-l-in22k-384x384-pre_8xb2-300k_mapillary-v1.2-semantic-1024x1024.py',
     'swin-l', MAPILLARY, 100, (1024, 1024), 300000),
]
# The ResNets whose BN the reference trains (SyncBN; its configs for Cityscapes and for
# the ADE20K R101); the others freeze BN.
TRAINED_BN = {'mask2former_r101_8xb2-160k_ade20k-512x512.py',
              'mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
              'mask2former_r101_8xb2-90k_cityscapes-512x1024.py',
              *(f'mask2former_{depth}_8xb2-90k_cityscapes-{task}-512x1024.py'
                for depth in ('r50', 'r101') for task in ('panoptic', 'instance'))}

# Per backbone: its ImageNet classifier's published parameter count and the unit that figure
# is rounded to; the channels of its four levels; Swin's window and pretraining size.
BACKBONES = {
    # torchvision's model table (resnet50: 25.6M, resnet101: 44.5M), as in He et al.
    'r50': dict(published=25.6e6, unit=0.1e6, channels=[256, 512, 1024, 2048]),
    'r101': dict(published=44.5e6, unit=0.1e6, channels=[256, 512, 1024, 2048]),
    # Swin paper (Liu et al. 2021) Table 1. It lists Swin-B and Swin-L at 384 (window 12)
    # with the same rounded counts as at 224 (window 7): the larger relative-position
    # tables, 360 more entries per head and block (+135,360 for B, +203,040 for L), stay
    # inside the rounding.
    'swin-t': dict(published=28e6, unit=1e6, channels=[96, 192, 384, 768], window=7,
                   pretrain=224),
    'swin-s': dict(published=50e6, unit=1e6, channels=[96, 192, 384, 768], window=7,
                   pretrain=224),
    'swin-b': dict(published=88e6, unit=1e6, channels=[128, 256, 512, 1024], window=12,
                   pretrain=384),
    'swin-l': dict(published=197e6, unit=1e6, channels=[192, 384, 768, 1536], window=12,
                   pretrain=384),
}
# Mask2Former paper Table 1 (COCO panoptic, 133 classes): whole-model parameters, in 1M.
PUBLISHED_TOTAL = {'r50': 44e6, 'r101': 63e6, 'swin-t': 47e6, 'swin-s': 69e6, 'swin-b': 107e6,
                   'swin-l': 216e6}

# The paper's optimiser (MASK2FORMER.md, "Training recipe").
BASE_LR, BASE_WD = 1e-4, 0.05
NO_DECAY_KEYS = ('query_embed', 'query_feat', 'level_embed', 'absolute_pos_embed',
                 'relative_position_bias_table')
NORMS = (nn.LayerNorm, nn.GroupNorm, _BatchNorm)


def _linear(fan_in: int, fan_out: int) -> int:
    """A Linear layer or a 1x1 conv, with bias."""
    return fan_in * fan_out + fan_out


def pixel_decoder_params(in_channels, d=256, ffn=1024, heads=8, levels=3, points=4,
                         layers=6) -> int:
    """MSDeformAttn pixel decoder (MASK2FORMER.md, "Pixel decoder"); GN and LayerNorm
    have a weight and a bias per channel."""
    norm = 2 * d
    input_proj = sum(_linear(c, d) + norm for c in in_channels[1:])  # res3..res5: 1x1 + GN
    deform_attn = (_linear(d, heads * levels * points * 2)  # sampling offsets
                   + _linear(d, heads * levels * points)  # attention weights
                   + 2 * _linear(d, d))  # value and output projections
    encoder_layer = deform_attn + norm + _linear(d, ffn) + _linear(ffn, d) + norm
    level_embed = levels * d
    lateral = in_channels[0] * d + norm  # res2: 1x1 without bias + GN
    output = 9 * d * d + norm  # 3x3 without bias + GN
    mask_features = _linear(d, d)
    return (input_proj + layers * encoder_layer + level_embed + lateral + output
            + mask_features)


def transformer_decoder_params(num_queries, num_classes, d=256, ffn=2048, layers=9,
                               levels=3) -> int:
    """Masked-attention decoder (MASK2FORMER.md, "Transformer decoder")."""
    norm = 2 * d
    attention = 4 * _linear(d, d) + norm  # q, k, v and output projections, then LayerNorm
    layer = 2 * attention + _linear(d, ffn) + _linear(ffn, d) + norm  # cross, self, FFN
    queries = 2 * num_queries * d  # query_feat and query_embed
    prediction_head = norm + _linear(d, num_classes + 1) + 3 * _linear(d, d)  # mask MLP
    return layers * layer + queries + levels * d + prediction_head


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _rounded(value: float, unit: float) -> float:
    return round(value / unit) * unit


@pytest.fixture(scope='module', params=ZOO, ids=[row[0] for row in ZOO])
def zoo(request):
    """(row, config, model), built once per config; pytest groups the tests by config and
    drops each model before building the next."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, request.param[0]))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    return request.param, cfg, model


def _head(model):
    return getattr(model, 'panoptic_head', None) or model.decode_head


def test_zoo_lists_every_config():
    assert {row[0] for row in ZOO} == set(os.listdir(CONFIG_DIR)) - {'__pycache__'}


def test_builds(zoo):
    _, cfg, model = zoo
    check_builds(cfg, model)


def test_parameter_counts(zoo):
    (name, backbone, num_classes, num_queries, _, _), _, model = zoo
    spec = BACKBONES[backbone]
    head = _head(model)
    ours = dict(backbone=_count(model.backbone), pixel_decoder=_count(head.pixel_decoder),
                predictor=_count(head.predictor))
    # The ImageNet classifier: plus its 1000-class head; Swin classifiers norm the last
    # stage only, where the segmentation backbone norms the output of all four.
    classifier = ours['backbone'] + _linear(spec['channels'][-1], 1000)
    if backbone.startswith('swin'):
        classifier -= sum(2 * c for c in spec['channels'][:-1])
    assert _rounded(classifier, spec['unit']) == pytest.approx(spec['published']), classifier
    assert ours['pixel_decoder'] == pixel_decoder_params(spec['channels'])
    assert ours['predictor'] == transformer_decoder_params(num_queries, num_classes)
    assert sum(ours.values()) == _count(model)  # nothing outside the three parts
    if num_classes == COCO_PANOPTIC:
        total = _count(model)
        assert _rounded(total, 1e6) == PUBLISHED_TOTAL[backbone], total


def test_recipe(zoo):
    (name, backbone, _, num_queries, crop, schedule), cfg, model = zoo
    assert _head(model).num_queries == num_queries
    crops = [t.crop_size for t in cfg.train_dataloader.dataset.pipeline
             if t.type == 'RandomCrop']
    assert [tuple(c) for c in crops] == [crop]
    # Batch 16: the GPUs x images per GPU in the name ('8xb2', '16xb1').
    gpus, per_gpu = name.split('_')[2].split('-')[0].split('xb')
    assert int(gpus) * cfg.train_dataloader.batch_size == 16 and per_gpu == str(
        cfg.train_dataloader.batch_size)

    # mmdet's and mmseg's recipes count iterations, not epochs.
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    schedulers = cfg.param_scheduler
    schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
    assert len(schedulers) == 1
    scheduler = schedulers[0]
    if isinstance(schedule, tuple):  # COCO: steps
        iterations, milestones = schedule
        assert scheduler.type == 'MultiStepLR' and scheduler.milestones == milestones
        assert scheduler.gamma == 0.1
    else:  # ADE20K, Cityscapes: poly
        iterations = schedule
        assert scheduler.type == 'PolyLR' and scheduler.power == 0.9
    assert cfg.train_cfg.max_iters == scheduler.end == iterations
    assert not scheduler.by_epoch

    backbone_cfg = cfg.model.backbone
    if backbone.startswith('swin'):
        spec = BACKBONES[backbone]
        assert backbone_cfg.drop_path_rate == 0.3
        assert (backbone_cfg.window_size, backbone_cfg.get('pretrain_img_size', 224)) == (
            spec['window'], spec['pretrain'])
        in21k = 'in21k' in name or 'in22k' in name
        assert ('22k' in backbone_cfg.init_cfg.checkpoint) == in21k
    else:
        bn = [m for m in model.backbone.modules() if isinstance(m, _BatchNorm)]
        trained = name in TRAINED_BN
        assert all(p.requires_grad == trained for m in bn for p in m.parameters())
        if trained:
            assert all(isinstance(m, nn.SyncBatchNorm) for m in bn)
        else:
            assert backbone_cfg.norm_eval  # statistics frozen too


def test_optimizer(zoo):
    _, cfg, model = zoo
    optim_cfg = cfg.optim_wrapper.copy()
    assert optim_cfg.optimizer.type == 'AdamW'
    assert (optim_cfg.optimizer.lr, optim_cfg.optimizer.weight_decay) == (BASE_LR, BASE_WD)
    assert optim_cfg.clip_grad == dict(max_norm=0.01, norm_type=2)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type=optim_cfg.pop('constructor', 'DefaultOptimWrapperConstructor'),
            paramwise_cfg=optim_cfg.pop('paramwise_cfg', None), optim_wrapper_cfg=optim_cfg))
        param_groups = constructor(model).optimizer.param_groups
    group_of = {id(p): group for group in param_groups for p in group['params']}

    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            name = f'{module_name}.{param_name}'
            if not param.requires_grad:  # frozen BN: in no group
                assert id(param) not in group_of, name
                continue
            group = group_of[id(param)]
            lr = BASE_LR * (0.1 if name.startswith('backbone.') else 1)
            assert group['lr'] == pytest.approx(lr), name
            no_decay = isinstance(module, NORMS) or any(k in name for k in NO_DECAY_KEYS)
            assert group['weight_decay'] == (0.0 if no_decay else BASE_WD), name
    # The head's convolutions and linear layers are decayed, e.g. its class layer.
    assert group_of[id(_head(model).predictor.class_embed.weight)]['weight_decay'] == BASE_WD
