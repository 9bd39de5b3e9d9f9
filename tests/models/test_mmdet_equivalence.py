"""m2f_mm's head against mmdet 3.3.0's port, at the R50 COCO panoptic sizes.

mmdet's head is built from its installed R50 panoptic config; ours with the
same sizes. mmdet's weights are copied across with
``m2f_mm.converters.mmdet_keys.mmdet_head_key_map`` (the checkpoint
converter reuses it). Given identical backbone features, all 10 predictions
must agree; with the random points made identical in both, so must the loss.
"""
import os.path as osp

import mmdet
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData

import m2f_mm  # noqa: F401
from m2f_mm.converters.mmdet_keys import mmdet_head_key_map
from m2f_mm.registry import MODELS
from m2f_mm.utils import installed_config_path

MMDET_CONFIG = installed_config_path('mmdet',
                                     'mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
OURS_CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'mask2former',
                       'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py')
IMG_H, IMG_W = 96, 128  # padded input size; R50 maps at strides 4..32
NUM_THINGS, NUM_STUFF = 80, 53


@pytest.fixture(scope='module')
def heads():
    torch.manual_seed(0)
    mmdet_cfg = Config.fromfile(MMDET_CONFIG).model
    ours_cfg = Config.fromfile(OURS_CONFIG).model
    with DefaultScope.overwrite_default_scope('mmdet'):
        theirs = mmdet.registry.MODELS.build(dict(
            mmdet_cfg.panoptic_head, train_cfg=mmdet_cfg.train_cfg, test_cfg=mmdet_cfg.test_cfg))
        ours = MODELS.build(dict(ours_cfg.panoptic_head, train_cfg=None,
                                 test_cfg=ours_cfg.test_cfg))
    theirs.init_weights()
    missing, unexpected = ours.load_state_dict(mmdet_head_key_map(theirs.state_dict()),
                                               strict=False)
    # mmdet keeps the no-object weight in its loss config, we in a buffer.
    assert missing == ['criterion.empty_weight'] and unexpected == []
    return theirs.eval(), ours.eval()


def _feats(batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, IMG_H // s, IMG_W // s, generator=g)
            for c, s in zip([256, 512, 1024, 2048], [4, 8, 16, 32])]


def _data_samples():
    """Two images: things as instances, stuff in the semantic map (mmdet's panoptic format)."""
    samples = []
    boxes = [[(0, 40, 0, 60, 3), (30, 90, 50, 120, 17)], [(10, 20, 10, 20, 0)]]
    stuff = [[(60, 96, 0, 128, 90)], [(0, 48, 0, 128, 100), (48, 96, 0, 128, 120)]]
    for img_boxes, img_stuff in zip(boxes, stuff):
        masks = torch.zeros(len(img_boxes), IMG_H, IMG_W, dtype=torch.uint8)
        sem = torch.full((1, IMG_H, IMG_W), 255, dtype=torch.long)
        for (y0, y1, x0, x1, label) in img_stuff:
            sem[0, y0:y1, x0:x1] = label - 80 + NUM_THINGS
        for m, (y0, y1, x0, x1, label) in zip(masks, img_boxes):
            m[y0:y1, x0:x1] = 1
            sem[0, y0:y1, x0:x1] = label
        sample = DetDataSample(metainfo=dict(batch_input_shape=(IMG_H, IMG_W),
                                             img_shape=(IMG_H, IMG_W), pad_shape=(IMG_H, IMG_W),
                                             ori_shape=(IMG_H, IMG_W)))
        sample.gt_instances = InstanceData(
            labels=torch.tensor([b[-1] for b in img_boxes]),
            masks=BitmapMasks(masks.numpy(), IMG_H, IMG_W))
        sample.gt_sem_seg = PixelData(sem_seg=sem)
        samples.append(sample)
    return samples


def _rand_by_trailing_shape(real_rand):
    """torch.rand whose values depend only on the trailing (T, 2) of the size.

    Both implementations then read the same points, whatever order or batching
    they draw them in.
    """

    def rand(*size, **kwargs):
        if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
            size = tuple(size[0])
        g = torch.Generator().manual_seed(1000 * size[-2] + size[-1])
        pattern = real_rand(size[-2:], generator=g)
        kwargs.pop('generator', None)
        return pattern.expand(size).clone().to(**kwargs)

    return rand


def test_all_ten_predictions_agree(heads):
    theirs, ours = heads
    feats, samples = _feats(), _data_samples()
    with torch.no_grad():
        their_cls, their_masks = theirs(feats, samples)
        our_cls, our_masks = ours(feats, samples)
    assert len(our_cls) == len(their_cls) == 10
    for i, (a, b) in enumerate(zip(our_cls, their_cls)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4, msg=f'class logits {i}')
    for i, (a, b) in enumerate(zip(our_masks, their_masks)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4, msg=f'mask logits {i}')


def test_total_loss_agrees_with_fixed_points(heads, monkeypatch):
    theirs, ours = heads
    feats = _feats()
    monkeypatch.setattr(torch, 'rand', _rand_by_trailing_shape(torch.rand))
    with torch.no_grad():
        their_losses = theirs.loss(feats, _data_samples())
        our_losses = ours.loss(feats, _data_samples())
    assert set(our_losses) == set(their_losses)
    their_total = sum(v.reshape(()) for v in their_losses.values())
    our_total = sum(our_losses.values())
    torch.testing.assert_close(our_total, their_total, rtol=1e-4, atol=0)
    for key in their_losses:
        torch.testing.assert_close(our_losses[key].reshape(()), their_losses[key].reshape(()),
                                   rtol=1e-3, atol=1e-5, msg=key)
