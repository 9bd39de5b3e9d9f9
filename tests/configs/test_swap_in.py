"""The swap-in configs: m2f_mm's head in a host model with a backbone of another OpenMMLab
config (MiT-B0 in mmseg's EncoderDecoder, RegNetX-4.0GF in mmdet's Mask2Former).

Per config, built as a Runner would (its default scope, init_weights) but without the
pretrained download: the backbone is the host config's, the head's channels are the ones
the backbone puts out, the config's optimiser gives every parameter the Mask2Former recipe,
one training step with that optimiser updates the head and the backbone, and prediction
gives the host's outputs at the image's size. Toy size (2 images of 64 x 96) on the CPU:
the config's full model, with only the data preprocessor's fixed-size padding turned off
and, for a frozen-BN backbone, its random init's zeroed residual BN left at one.
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.structures import InstanceData, PixelData
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import m2f_mm  # noqa: F401

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'swap_in')
# config, the backbone_channels key its head takes, the host config its backbone comes from
CASES = {
    'mit-b0': ('mask2former_mit-b0_8xb2-160k_ade20k-512x512.py', 'mit_b0',
               'mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py'),
    'regnetx-4gf': ('mask2former_regnetx-4gf_8xb2-lsj-50e_coco-panoptic.py', 'regnetx_4gf',
                    'mmdet::regnet/mask-rcnn_regnetx-4GF_fpn_1x_coco.py'),
}
H, W = 64, 96  # a multiple of 32 each, not square: a swapped H and W shows
BASE_LR, BASE_WD = 1e-4, 0.05
NO_DECAY_KEYS = ('query_embed', 'query_feat', 'level_embed')
NORMS = (nn.LayerNorm, nn.GroupNorm, _BatchNorm)


def _config(name):
    return Config.fromfile(osp.join(CONFIG_DIR, CASES[name][0]))


def _head(model):
    return getattr(model, 'panoptic_head', None) or model.decode_head


def _is_det(cfg):
    return 'panoptic_head' in cfg.model


@pytest.fixture(scope='module', params=list(CASES))
def swap_in(request):
    """(case name, config, model): the config's model without its pretrained weights and
    without padding to the training crop, initialised as a Runner would."""
    cfg = _config(request.param)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg')  # no download
    if model_cfg.backbone.get('norm_cfg', {}).get('requires_grad', True) is False:
        # Without pretrained weights mmdet's ResNet-style init zeroes each block's last BN
        # weight (zero_init_residual); frozen, it would stay zero and cut every residual
        # branch off from the gradient. Pretrained BN weights are not zero.
        model_cfg.backbone.zero_init_residual = False
    if _is_det(cfg):
        model_cfg.data_preprocessor.batch_augments = None  # else padded to 1024 x 1024
    else:
        model_cfg.data_preprocessor.update(size=None, size_divisor=32)  # else to 512 x 512
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
    model.init_weights()
    return request.param, cfg, model


def _data(cfg, with_gt=True, n=2):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, H, W), generator=g, dtype=torch.uint8)
              for _ in range(n)]
    if _is_det(cfg):
        from mmdet.structures import DetDataSample
        from mmdet.structures.mask import BitmapMasks
        head = cfg.model.panoptic_head
        samples = []
        for _ in range(n):
            sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W),
                                                 scale_factor=(1.0, 1.0)))
            if with_gt:
                masks = np.zeros((2, H, W), dtype=np.uint8)
                masks[0, 4:30, 6:40] = 1
                masks[1, 34:60, 50:90] = 1
                sample.gt_instances = InstanceData(
                    labels=torch.tensor([0, head.num_things_classes - 1]),
                    masks=BitmapMasks(masks, H, W),
                    bboxes=torch.tensor([[6., 4, 40, 30], [50, 34, 90, 60]]))
                sem = torch.full((1, H, W), 255, dtype=torch.long)  # things and void
                sem[0, 34:, :45] = head.num_things_classes  # first stuff class
                sem[0, :4] = head.num_things_classes + head.num_stuff_classes - 1  # last
                sample.gt_sem_seg = PixelData(sem_seg=sem)
            samples.append(sample)
    else:
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(n):
            sample = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
            if with_gt:
                sem = torch.zeros((1, H, W), dtype=torch.long)
                sem[0, :, 48:] = 12
                sem[0, 40:, :20] = cfg.model.decode_head.num_classes - 1
                sem[0, :3] = 255
                sample.gt_sem_seg = PixelData(data=sem)
            samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('name', list(CASES))
def test_backbone_is_the_host_configs(name):
    cfg = _config(name)
    host = get_config(CASES[name][2]).model
    ours = cfg.model.backbone.to_dict()
    if name == 'mit-b0':  # SegFormer's MiT-B0, pretrained weights included
        assert ours == host.backbone.to_dict()
        assert cfg.model.data_preprocessor.mean == host.data_preprocessor.mean
        assert cfg.model.data_preprocessor.bgr_to_rgb == host.data_preprocessor.bgr_to_rgb
    else:  # mmdet's RegNetX-4.0GF, trained like Mask2Former's R50: only BN frozen
        for key in ('type', 'arch', 'out_indices', 'style', 'init_cfg'):
            assert ours[key] == host.backbone[key], key
        assert ours['norm_cfg'] == dict(type='BN', requires_grad=False) and ours['norm_eval']
        assert ours['frozen_stages'] == -1
        # pycls' BGR mean and std, which the pretrained weights expect
        pre = get_config('mmdet::regnet/mask-rcnn_regnetx-3.2GF_fpn_1x_coco.py').model
        for key in ('mean', 'std', 'bgr_to_rgb'):
            assert cfg.model.data_preprocessor[key] == pre.data_preprocessor[key], key
    assert 'init_cfg' in ours and ours['init_cfg']['type'] == 'Pretrained'


def test_head_channels_are_the_backbones(swap_in):
    name, cfg, model = swap_in
    head = _head(model)
    assert type(head).__module__.startswith('m2f_mm.')
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, H, W))
    measured = [f.shape[1] for f in feats]
    assert head.pixel_decoder.in_channels == measured == cfg.backbone_channels[CASES[name][1]]
    assert [H // f.shape[2] for f in feats] == [W // f.shape[3] for f in feats] == [4, 8, 16, 32]


def test_optimizer_follows_the_mask2former_recipe(swap_in):
    """Backbone lr x0.1; no weight decay on norms (the backbone's too) and embeddings."""
    _, cfg, model = swap_in
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    group_of = {id(p): g for g in optim_wrapper.optimizer.param_groups for p in g['params']}
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            name = f'{module_name}.{param_name}'
            if not param.requires_grad:
                assert id(param) not in group_of, name
                continue
            group = group_of[id(param)]
            assert group['lr'] == pytest.approx(
                BASE_LR * (0.1 if name.startswith('backbone.') else 1)), name
            no_decay = isinstance(module, NORMS) or any(k in name for k in NO_DECAY_KEYS)
            assert group['weight_decay'] == (0.0 if no_decay else BASE_WD), name


def test_one_training_step_updates_head_and_backbone(swap_in):
    _, cfg, model = swap_in
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith('backbone.') for n in trainable)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    # The wrapper zeroes the gradients after its step: note them as they arrive.
    grads = {}
    hooks = [p.register_post_accumulate_grad_hook(
        lambda p, n=n: grads.__setitem__(n, (bool(torch.isfinite(p.grad).all()),
                                             bool(p.grad.abs().sum() > 0))))
        for n, p in trainable.items()]
    model.train()
    try:
        log_vars = model.train_step(_data(cfg), optim_wrapper)
    finally:
        for hook in hooks:
            hook.remove()

    losses = {k: v for k, v in log_vars.items() if 'loss' in k}
    assert any(k.endswith('loss_dice') for k in losses) and 'loss' in losses
    assert all(torch.isfinite(torch.as_tensor(v)) for v in losses.values()), losses
    # Every trainable parameter of the backbone and the head got a finite, non-zero
    # gradient and was updated.
    assert set(grads) == set(trainable)
    assert all(finite for finite, _ in grads.values())
    # Except the pixel decoder's level embedding: it enters only the deformable
    # attention's sampling offsets and weights, whose projections start at zero.
    expected_zero = [n for n in trainable if n.endswith('pixel_decoder.transformer.level_embed')]
    assert len(expected_zero) == 1
    assert [n for n, (_, nonzero) in grads.items() if not nonzero] == expected_zero
    unchanged = [n for n, p in trainable.items() if torch.equal(p.detach(), before[n])]
    assert unchanged == expected_zero  # a zero gradient and no weight decay
    head_prefix = 'panoptic_head.' if _is_det(cfg) else 'decode_head.'
    assert all(n.startswith(('backbone.', head_prefix)) for n in trainable)


def test_predict_gives_the_hosts_outputs(swap_in):
    _, cfg, model = swap_in
    model.eval()
    with torch.no_grad():
        results = model.test_step(_data(cfg, with_gt=False))
    assert len(results) == 2
    if _is_det(cfg):
        head = cfg.model.panoptic_head
        num_classes = head.num_things_classes + head.num_stuff_classes
        from mmdet.evaluation.functional import INSTANCE_OFFSET
        for result in results:
            pan = result.pred_panoptic_seg.sem_seg
            assert pan.shape == (1, H, W)
            assert ((pan % INSTANCE_OFFSET < num_classes) | (pan == num_classes)).all()
            assert result.pred_sem_seg.sem_seg.shape == (1, H, W)
            assert result.pred_instances.masks.shape[1:] == (H, W)
    else:
        for result in results:
            assert result.pred_sem_seg.data.shape == (1, H, W)
            assert result.seg_logits.data.shape == (cfg.model.decode_head.num_classes, H, W)
            assert result.pred_sem_seg.data.max() < cfg.model.decode_head.num_classes
