"""The reference (detectron2) converter: a synthetic .pkl in the reference key layout,
converted through the command line, lands every known tensor in its place.

The reference layout is written out here from MASK2FORMER.md ("Reference
checkpoint layout") and detectron2's / Swin's module names, independently of the
converter's rules; only the random values are arbitrary.
"""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import m2f_mm  # noqa: F401
from m2f_mm.converters.cli import main as convert
from m2f_mm.datasets.definitions import cityscapes, things_first

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
R50_CONFIG = osp.join(REPO, 'configs', 'mask2former', 'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
CITYSCAPES_PANOPTIC = osp.join(REPO, 'configs', 'mask2former',
                               'mask2former_r50_8xb2-90k_cityscapes-panoptic-512x1024.py')
NUM_CLASSES, NUM_QUERIES, D = 133, 100, 256
SWIN = dict(embed_dims=48, depths=[2, 2, 2, 2], num_heads=[2, 2, 4, 4], window_size=7)


def _resnet50_layout():
    """detectron2's ResNet-50 names: stem, res2..res5, convN (+ .norm), shortcut (+ .norm)."""
    shapes = {'stem.conv1.weight': (64, 3, 7, 7)}
    bn = ('weight', 'bias', 'running_mean', 'running_var')
    shapes.update({f'stem.conv1.norm.{p}': (64,) for p in bn})
    in_ch = 64
    for stage, (blocks, planes) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512]), start=2):
        for b in range(blocks):
            block = f'res{stage}.{b}.'
            convs = [(planes, in_ch, 1, 1), (planes, planes, 3, 3), (planes * 4, planes, 1, 1)]
            for i, shape in enumerate(convs, start=1):
                shapes[f'{block}conv{i}.weight'] = shape
                shapes.update({f'{block}conv{i}.norm.{p}': (shape[0],) for p in bn})
            if b == 0:
                shapes[f'{block}shortcut.weight'] = (planes * 4, in_ch, 1, 1)
                shapes.update({f'{block}shortcut.norm.{p}': (planes * 4,) for p in bn})
            in_ch = planes * 4
    return shapes


def _swin_layout(embed_dims, depths, num_heads, window_size):
    """The original Swin names (the reference's D2SwinTransformer)."""
    c, w = embed_dims, window_size
    shapes = {'patch_embed.proj.weight': (c, 3, 4, 4), 'patch_embed.proj.bias': (c,),
              'patch_embed.norm.weight': (c,), 'patch_embed.norm.bias': (c,)}
    for s, (depth, heads) in enumerate(zip(depths, num_heads)):
        for b in range(depth):
            block = f'layers.{s}.blocks.{b}.'
            shapes.update({
                block + 'norm1.weight': (c,), block + 'norm1.bias': (c,),
                block + 'attn.relative_position_bias_table': ((2 * w - 1) ** 2, heads),
                block + 'attn.relative_position_index': (w * w, w * w),
                block + 'attn.qkv.weight': (3 * c, c), block + 'attn.qkv.bias': (3 * c,),
                block + 'attn.proj.weight': (c, c), block + 'attn.proj.bias': (c,),
                block + 'norm2.weight': (c,), block + 'norm2.bias': (c,),
                block + 'mlp.fc1.weight': (4 * c, c), block + 'mlp.fc1.bias': (4 * c,),
                block + 'mlp.fc2.weight': (c, 4 * c), block + 'mlp.fc2.bias': (c,)})
        shapes.update({f'norm{s}.weight': (c,), f'norm{s}.bias': (c,)})
        if s < len(depths) - 1:
            shapes.update({f'layers.{s}.downsample.reduction.weight': (2 * c, 4 * c),
                           f'layers.{s}.downsample.norm.weight': (4 * c,),
                           f'layers.{s}.downsample.norm.bias': (4 * c,)})
            c *= 2
    return shapes


def _head_layout(in_channels):
    """sem_seg_head.{pixel_decoder,predictor}.* and criterion.empty_weight."""
    shapes = {}
    pd = 'sem_seg_head.pixel_decoder.'
    for i, c in enumerate(in_channels[:0:-1]):  # index 0 is res5
        shapes.update({f'{pd}input_proj.{i}.0.weight': (D, c, 1, 1),
                       f'{pd}input_proj.{i}.0.bias': (D,),
                       f'{pd}input_proj.{i}.1.weight': (D,), f'{pd}input_proj.{i}.1.bias': (D,)})
    shapes[pd + 'transformer.level_embed'] = (3, D)
    for i in range(6):
        layer = f'{pd}transformer.encoder.layers.{i}.'
        for name, rows in (('sampling_offsets', 8 * 3 * 4 * 2), ('attention_weights', 8 * 3 * 4),
                           ('value_proj', D), ('output_proj', D)):
            shapes.update({f'{layer}self_attn.{name}.weight': (rows, D),
                           f'{layer}self_attn.{name}.bias': (rows,)})
        shapes.update({layer + 'linear1.weight': (1024, D), layer + 'linear1.bias': (1024,),
                       layer + 'linear2.weight': (D, 1024), layer + 'linear2.bias': (D,)})
        shapes.update({f'{layer}norm{n}.{p}': (D,) for n in (1, 2) for p in ('weight', 'bias')})
    shapes.update({pd + 'adapter_1.weight': (D, in_channels[0], 1, 1),
                   pd + 'layer_1.weight': (D, D, 3, 3),
                   pd + 'mask_features.weight': (D, D, 1, 1), pd + 'mask_features.bias': (D,)})
    shapes.update({f'{pd}{m}.norm.{p}': (D,) for m in ('adapter_1', 'layer_1')
                   for p in ('weight', 'bias')})
    pr = 'sem_seg_head.predictor.'
    shapes.update({pr + 'query_feat.weight': (NUM_QUERIES, D),
                   pr + 'query_embed.weight': (NUM_QUERIES, D), pr + 'level_embed.weight': (3, D),
                   pr + 'decoder_norm.weight': (D,), pr + 'decoder_norm.bias': (D,),
                   pr + 'class_embed.weight': (NUM_CLASSES + 1, D),
                   pr + 'class_embed.bias': (NUM_CLASSES + 1,),
                   'criterion.empty_weight': (NUM_CLASSES + 1,)})
    for i in range(9):
        for layers, attn in (('transformer_self_attention_layers', 'self_attn'),
                             ('transformer_cross_attention_layers', 'multihead_attn')):
            layer = f'{pr}{layers}.{i}.'
            shapes.update({f'{layer}{attn}.in_proj_weight': (3 * D, D),
                           f'{layer}{attn}.in_proj_bias': (3 * D,),
                           f'{layer}{attn}.out_proj.weight': (D, D),
                           f'{layer}{attn}.out_proj.bias': (D,),
                           layer + 'norm.weight': (D,), layer + 'norm.bias': (D,)})
        ffn = f'{pr}transformer_ffn_layers.{i}.'
        shapes.update({ffn + 'linear1.weight': (2048, D), ffn + 'linear1.bias': (2048,),
                       ffn + 'linear2.weight': (D, 2048), ffn + 'linear2.bias': (D,),
                       ffn + 'norm.weight': (D,), ffn + 'norm.bias': (D,)})
    for i in range(3):
        shapes.update({f'{pr}mask_embed.layers.{i}.weight': (D, D),
                       f'{pr}mask_embed.layers.{i}.bias': (D,)})
    return shapes


def _write_pkl(path, backbone_shapes, in_channels, num_classes=NUM_CLASSES):
    rng = np.random.default_rng(0)
    shapes = {'backbone.' + k: v for k, v in backbone_shapes.items()}
    shapes.update(_head_layout(in_channels))
    model = {}
    for key, shape in shapes.items():
        if key.endswith(('class_embed.weight', 'class_embed.bias', 'empty_weight')):
            shape = (num_classes + 1,) + shape[1:]
        model[key] = (rng.integers(0, 169, shape) if key.endswith('relative_position_index')
                      else rng.standard_normal(shape).astype(np.float32))
    with open(path, 'wb') as f:
        pickle.dump({'model': model, '__author__': 'synthetic'}, f, protocol=2)
    return model


def _load(config, checkpoint):
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.load_state_dict(torch.load(checkpoint, weights_only=True)['state_dict'], strict=True)
    return model


def _same(ours, theirs):
    return torch.equal(ours.detach(), torch.from_numpy(np.asarray(theirs)))


@pytest.fixture(scope='module')
def r50(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('d2_r50')
    ref = _write_pkl(tmp / 'model_final.pkl', _resnet50_layout(), [256, 512, 1024, 2048])
    convert('detectron2', 'x', [str(tmp / 'model_final.pkl'), R50_CONFIG, str(tmp / 'out.pth')])
    return ref, _load(R50_CONFIG, tmp / 'out.pth'), tmp


def test_resnet_stem_and_shortcut_names(r50):
    ref, model, _ = r50
    bb = model.backbone
    assert _same(bb.conv1.weight, ref['backbone.stem.conv1.weight'])
    assert _same(bb.bn1.running_var, ref['backbone.stem.conv1.norm.running_var'])
    assert _same(bb.layer3[0].downsample[0].weight, ref['backbone.res4.0.shortcut.weight'])
    assert _same(bb.layer2[0].downsample[1].bias, ref['backbone.res3.0.shortcut.norm.bias'])
    assert _same(bb.layer4[2].conv2.weight, ref['backbone.res5.2.conv2.weight'])
    assert _same(bb.layer1[1].bn3.running_mean, ref['backbone.res2.1.conv3.norm.running_mean'])


def test_input_proj_is_res5_first(r50):
    ref, model, _ = r50
    proj = model.panoptic_head.pixel_decoder.input_proj
    key = 'sem_seg_head.pixel_decoder.input_proj.{}.0.weight'
    # The reference's index 0 reads res5 (2048 channels), index 2 res3 (512).
    assert proj[0][0].in_channels == 2048 and _same(proj[0][0].weight, ref[key.format(0)])
    assert proj[2][0].in_channels == 512 and _same(proj[2][0].weight, ref[key.format(2)])


def test_in_proj_thirds_land_as_query_key_value(r50):
    ref, model, _ = r50
    attn = model.panoptic_head.predictor.transformer_self_attention_layers[4].self_attn
    theirs = ref['sem_seg_head.predictor.transformer_self_attention_layers.4.self_attn.'
                 'in_proj_weight']
    q, k, v = attn.in_proj_weight.split(D)
    assert _same(q, theirs[:D]) and _same(k, theirs[D:2 * D]) and _same(v, theirs[2 * D:])
    cross = model.panoptic_head.predictor.transformer_cross_attention_layers[8].multihead_attn
    assert _same(cross.in_proj_bias, ref['sem_seg_head.predictor.transformer_cross_attention_'
                                         'layers.8.multihead_attn.in_proj_bias'])
    head = model.panoptic_head
    assert _same(head.criterion.empty_weight, ref['criterion.empty_weight'])
    assert _same(head.predictor.class_embed.weight, ref['sem_seg_head.predictor.class_embed.weight'])


def test_another_class_count_is_refused_unless_reset(r50, capsys):
    _, model, tmp = r50
    _write_pkl(tmp / 'ade.pkl', _resnet50_layout(), [256, 512, 1024, 2048], num_classes=150)
    with pytest.raises(SystemExit, match='trained for 150 classes, the config has 133.*'
                                         '--reset-classes'):
        convert('detectron2', 'x', [str(tmp / 'ade.pkl'), R50_CONFIG, str(tmp / 'ade.pth')])
    assert not (tmp / 'ade.pth').exists()
    convert('detectron2', 'x', [str(tmp / 'ade.pkl'), R50_CONFIG, str(tmp / 'ade.pth'),
                                '--reset-classes'])
    assert 're-initialised' in capsys.readouterr().out
    tuned = _load(R50_CONFIG, tmp / 'ade.pth')
    assert tuned.panoptic_head.predictor.class_embed.weight.shape[0] == NUM_CLASSES + 1
    assert tuned.panoptic_head.criterion.empty_weight[-1] == pytest.approx(0.1)
    # Everything else is the checkpoint's.
    assert torch.equal(tuned.backbone.conv1.weight, model.backbone.conv1.weight)


def test_cityscapes_panoptic_classes_become_things_first(tmp_path, capsys):
    """The reference numbers Cityscapes' classes by train id (road 0, ..., person 11);
    m2f_mm's panoptic labels list the things first (person 0)."""
    ref = _write_pkl(tmp_path / 'cs.pkl', _resnet50_layout(), [256, 512, 1024, 2048],
                     num_classes=19)
    convert('detectron2', 'x', [str(tmp_path / 'cs.pkl'), CITYSCAPES_PANOPTIC,
                                str(tmp_path / 'cs.pth')])
    assert 'class rows reordered' in capsys.readouterr().out
    head = _load(CITYSCAPES_PANOPTIC, tmp_path / 'cs.pth').panoptic_head
    order = things_first(cityscapes.IS_THING) + [19]  # "no object" stays last
    assert order[:2] == [11, 12] and order[8] == 0  # person, rider; road after the things
    for key in ('weight', 'bias'):
        theirs = ref[f'sem_seg_head.predictor.class_embed.{key}']
        assert _same(getattr(head.predictor.class_embed, key), theirs[order])


def test_another_query_count_names_the_shapes(tmp_path):
    global NUM_QUERIES
    saved, NUM_QUERIES = NUM_QUERIES, 200
    try:
        _write_pkl(tmp_path / 'q200.pkl', _resnet50_layout(), [256, 512, 1024, 2048])
    finally:
        NUM_QUERIES = saved
    with pytest.raises(SystemExit, match=r'shape mismatches.*query_feat.weight: checkpoint '
                                         r'\(200, 256\), config \(100, 256\)'):
        convert('detectron2', 'x', [str(tmp_path / 'q200.pkl'), R50_CONFIG,
                                    str(tmp_path / 'q200.pth')])


def test_swin_qkv_tables_and_patch_merging(tmp_path):
    channels = [SWIN['embed_dims'] * 2 ** i for i in range(4)]
    config = tmp_path / 'swin.py'
    config.write_text(
        f'_base_ = [{R50_CONFIG!r}]\n'
        f'model = dict(backbone=dict(_delete_=True, type="SwinTransformer", **{SWIN!r}, '
        f'out_indices=(0, 1, 2, 3)), panoptic_head=dict(in_channels={channels!r}))\n')
    ref = _write_pkl(tmp_path / 'swin.pkl', _swin_layout(**SWIN), channels)
    convert('detectron2', 'x', [str(tmp_path / 'swin.pkl'), str(config), str(tmp_path / 'o.pth')])
    bb = _load(str(config), tmp_path / 'o.pth').backbone
    msa = bb.stages[2].blocks[1].attn.w_msa
    assert _same(msa.qkv.weight, ref['backbone.layers.2.blocks.1.attn.qkv.weight'])
    assert _same(msa.relative_position_bias_table,
                 ref['backbone.layers.2.blocks.1.attn.relative_position_bias_table'])
    assert _same(bb.stages[3].blocks[0].ffn.layers[1].weight,
                 ref['backbone.layers.3.blocks.0.mlp.fc2.weight'])
    assert _same(bb.norm2.weight, ref['backbone.norm2.weight'])
    # Patch merging as the reference computes it: 2x2 sub-grids concatenated in the
    # order (0, 0), (1, 0), (0, 1), (1, 1), LayerNorm, then the reduction.
    c, h, w = 2 * SWIN['embed_dims'], 6, 8
    x = torch.randn(2, h, w, c)
    grids = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
    t = lambda k: torch.from_numpy(ref[f'backbone.layers.1.downsample.{k}'])  # noqa: E731
    expected = F.linear(F.layer_norm(grids, (4 * c,), t('norm.weight'), t('norm.bias')),
                        t('reduction.weight'))
    ours, out_hw = bb.stages[1].downsample(x.flatten(1, 2), (h, w))
    assert out_hw == (h // 2, w // 2)
    torch.testing.assert_close(ours, expected.flatten(1, 2), rtol=1e-4, atol=1e-4)
