"""Tests for m2f_mm.models.criterion.Mask2FormerCriterion."""
import math
import os

import pytest
import torch
import torch.nn.functional as F

from m2f_mm.models import criterion as criterion_module
from m2f_mm.models.criterion import Mask2FormerCriterion
from m2f_mm.models.matcher import HungarianMatcher
from m2f_mm.registry import MODELS, build_in_plugin_scope


def make_criterion(num_classes, num_points=64, **kwargs):
    """A criterion whose matcher and losses both use ``num_points`` points."""
    matcher = dict(type='HungarianMatcher', num_points=num_points)
    return Mask2FormerCriterion(num_classes, matcher=matcher, num_points=num_points, **kwargs)


def disc_logits(centres, radius, size, sharpness=1.0):
    """(len(centres), size, size) logits positive inside discs, in pixel units."""
    coords = (torch.arange(size).float() + 0.5) / size
    ys, xs = torch.meshgrid(coords, coords, indexing='ij')
    out = [sharpness * size * (radius - ((xs - cx) ** 2 + (ys - cy) ** 2).sqrt())
           for cx, cy in centres]
    return torch.stack(out)


def random_predictions(num_preds, batch, num_queries, num_classes, size, generator):
    """Leaf (B, Q, K+1) class and (B, Q, h, w) mask logits, one pair per stage."""
    cls_preds = [torch.randn(batch, num_queries, num_classes + 1, generator=generator)
                 .requires_grad_() for _ in range(num_preds)]
    mask_preds = [(2 * torch.randn(batch, num_queries, size, size, generator=generator))
                  .requires_grad_() for _ in range(num_preds)]
    return cls_preds, mask_preds


def random_targets(counts, num_classes, size, generator):
    """Per image, ``counts[b]`` random rectangles with random labels."""
    targets = []
    for count in counts:
        masks = torch.zeros(count, size, size, dtype=torch.bool)
        for m in range(count):
            y0, x0 = torch.randint(0, size // 2, (2,), generator=generator).tolist()
            h, w = torch.randint(size // 8, size // 2, (2,), generator=generator).tolist()
            masks[m, y0:y0 + h, x0:x0 + w] = True
        targets.append(dict(labels=torch.randint(0, num_classes, (count,), generator=generator),
                            masks=masks))
    return targets


def hand_case():
    """One image, 3 queries, K=2, one 2x2 target (top row) that query 0 predicts."""
    cls_logits = torch.tensor([[[0.0, 2.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.0, 3.0]]])
    mask_logits = torch.tensor([[[2.0, 2.0], [-2.0, -2.0]],
                                [[-3.0, -3.0], [3.0, 3.0]],
                                [[-3.0, -3.0], [3.0, 3.0]]])[None]
    target = dict(labels=torch.tensor([1]),
                  masks=torch.tensor([[[1, 1], [0, 0]]], dtype=torch.uint8))
    return cls_logits, mask_logits, [target]


def test_class_loss_by_hand():
    cls_logits, mask_logits, targets = hand_case()
    losses = make_criterion(2, num_points=16)([cls_logits], [mask_logits], targets)
    # Query 0 -> class 1 (weight 1); queries 1, 2 -> no object (weight 0.1).
    ce0 = math.log(1 + math.exp(2) + 1) - 2
    ce1 = math.log(math.exp(1) + 1 + math.exp(0.5)) - 0.5
    ce2 = math.log(1 + 1 + math.exp(3)) - 3
    expected = 2.0 * (1.0 * ce0 + 0.1 * ce1 + 0.1 * ce2) / (1.0 + 0.1 + 0.1)
    assert losses['loss_cls'].item() == pytest.approx(expected, rel=1e-6)


def test_full_mask_losses_by_hand():
    # Prediction and target are both 2x2, so no resizing happens.
    cls_logits, mask_logits, targets = hand_case()
    losses = make_criterion(2, num_points=16, point_sampled=False)(
        [cls_logits], [mask_logits], targets)
    s = 1 / (1 + math.exp(-2))  # every pixel of query 0 is right with probability s
    assert losses['loss_mask'].item() == pytest.approx(5.0 * math.log(1 + math.exp(-2)), rel=1e-6)
    # p.t = 2s, sum p = 2s + 2(1 - s) = 2, sum t = 2.
    assert losses['loss_dice'].item() == pytest.approx(5.0 * (1 - (4 * s + 1) / 5), rel=1e-6)


def test_loss_keys_for_ten_predictions():
    g = torch.Generator().manual_seed(0)
    cls_preds, mask_preds = random_predictions(10, 2, 5, 3, 8, g)
    targets = random_targets([2, 1], 3, 16, g)
    losses = make_criterion(3, num_points=16)(cls_preds, mask_preds, targets)
    expected = {f'{prefix}loss_{name}' for prefix in [''] + [f'd{i}.' for i in range(9)]
                for name in ('cls', 'mask', 'dice')}
    assert set(losses) == expected and len(losses) == 30
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())


def test_gradients_reach_every_prediction():
    g = torch.Generator().manual_seed(1)
    cls_preds, mask_preds = random_predictions(3, 2, 6, 4, 8, g)
    targets = random_targets([3, 2], 4, 32, g)
    losses = make_criterion(4, num_points=32)(cls_preds, mask_preds, targets)
    sum(losses.values()).backward()
    for pred in cls_preds + mask_preds:
        assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_each_prediction_is_matched_on_its_own():
    # Stage 0 predicts the target with query 0, stage 1 with query 2: both must get
    # the low mask loss of a correct match.
    target = dict(labels=torch.tensor([0]),
                  masks=disc_logits([(0.5, 0.5)], 0.3, 32) > 0)
    good = disc_logits([(0.5, 0.5)], 0.3, 8, sharpness=2.0)[0]
    cls_preds, mask_preds = [], []
    for query in (0, 2):
        masks = -good.abs()[None].repeat(3, 1, 1) - 5  # everything else: all background
        masks[query] = good
        mask_preds.append(masks[None])
        cls_preds.append(torch.zeros(1, 3, 2))
    losses = make_criterion(1, num_points=256)(cls_preds, mask_preds, [target])
    # A wrong match (an all-background query) would cost about 5.0 * 1.
    assert losses['d0.loss_dice'] < 2.5 and losses['loss_dice'] < 2.5


def test_zero_target_image_in_a_batch():
    g = torch.Generator().manual_seed(2)
    cls_preds, mask_preds = random_predictions(2, 2, 5, 3, 8, g)
    targets = random_targets([0, 2], 3, 16, g)
    losses = make_criterion(3, num_points=16)(cls_preds, mask_preds, targets)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    # The empty image's masks get no mask gradient; the other image's matched ones do.
    assert mask_preds[-1].grad[0].abs().sum() == 0
    assert mask_preds[-1].grad[1].abs().sum() > 0


def test_zero_target_batch_pushes_every_query_to_no_object():
    g = torch.Generator().manual_seed(3)
    num_classes = 3
    cls_preds, mask_preds = random_predictions(2, 2, 4, num_classes, 8, g)
    targets = [dict(labels=torch.zeros(0, dtype=torch.long),
                    masks=torch.zeros(0, 32, 32, dtype=torch.uint8)) for _ in range(2)]
    losses = make_criterion(num_classes, num_points=16)(cls_preds, mask_preds, targets)
    for prefix in ('', 'd0.'):
        assert losses[prefix + 'loss_mask'].item() == 0.0
        assert losses[prefix + 'loss_dice'].item() == 0.0
        assert losses[prefix + 'loss_mask'].grad_fn is not None
    # All queries target "no object": the class weights cancel in the weighted mean.
    no_object = torch.full((8,), num_classes)
    expected = 2.0 * F.cross_entropy(cls_preds[-1].detach().flatten(0, 1), no_object)
    torch.testing.assert_close(losses['loss_cls'], expected)

    sum(losses.values()).backward()
    for cls_logits, mask_logits in zip(cls_preds, mask_preds):
        assert (cls_logits.grad[..., num_classes] < 0).all()  # descent raises no-object
        assert mask_logits.grad is not None and mask_logits.grad.abs().sum() == 0


def test_full_mask_and_point_sampled_losses_agree_for_smooth_masks():
    torch.manual_seed(0)
    centres = [(0.3, 0.3), (0.7, 0.6), (0.4, 0.75)]
    # Smooth predictions at 16x16 close to, not equal to, 64x64 disc targets.
    mask_logits = disc_logits(centres, 0.18, 16, sharpness=0.5)[None]
    gt_masks = disc_logits(centres[:2], 0.2, 64) > 0
    cls_logits = torch.zeros(1, 3, 3)
    targets = [dict(labels=torch.tensor([0, 1]), masks=gt_masks)]

    full = make_criterion(2, point_sampled=False)([cls_logits], [mask_logits], targets)
    # Uniform points (importance ratio 0) estimate the full-mask means. The gap left
    # (~4% here, ~1% Monte Carlo) is mostly the outer half-pixel band of the 16x16
    # map, where point_sample pads with zeros but upsampling clamps to the edge.
    uniform = make_criterion(2, num_points=20000, importance_sample_ratio=0.0)(
        [cls_logits], [mask_logits], targets)
    for key in ('loss_mask', 'loss_dice'):
        assert uniform[key].item() == pytest.approx(full[key].item(), rel=0.07)
    # Importance sampling over-weights the boundary, where the BCE is largest.
    boundary = make_criterion(2, num_points=20000)([cls_logits], [mask_logits], targets)
    assert boundary['loss_mask'] > 1.5 * full['loss_mask']


@pytest.mark.parametrize('dtype', [torch.uint8, torch.float32])
def test_mask_dtypes_give_the_same_losses(dtype):
    g = torch.Generator().manual_seed(4)
    cls_preds, mask_preds = random_predictions(1, 2, 4, 3, 8, g)
    targets = random_targets([2, 1], 3, 16, g)
    criterion = make_criterion(3, num_points=32)
    torch.manual_seed(0)
    reference = criterion(cls_preds, mask_preds, targets)
    converted = [dict(labels=t['labels'], masks=t['masks'].to(dtype)) for t in targets]
    torch.manual_seed(0)
    losses = criterion(cls_preds, mask_preds, converted)
    for key, value in reference.items():
        torch.testing.assert_close(losses[key], value)


@pytest.mark.parametrize('reduced, expected_divisor', [(6.0, 6.0), (0.5, 1.0)])
def test_num_masks_is_averaged_over_processes_and_clamped(monkeypatch, reduced,
                                                          expected_divisor):
    g = torch.Generator().manual_seed(5)
    cls_preds, mask_preds = random_predictions(1, 2, 4, 3, 8, g)
    targets = random_targets([2, 1], 3, 16, g)
    criterion = make_criterion(3, num_points=32)
    torch.manual_seed(0)
    local = criterion(cls_preds, mask_preds, targets)  # 3 masks, world size 1

    ops = []

    def fake_all_reduce(tensor, op):
        ops.append(op)
        tensor.fill_(reduced)  # the mean over processes

    monkeypatch.setattr(criterion_module.dist, 'get_world_size', lambda: 2)
    monkeypatch.setattr(criterion_module.dist, 'all_reduce', fake_all_reduce)
    torch.manual_seed(0)
    shared = criterion(cls_preds, mask_preds, targets)
    assert ops == ['mean']
    for key in ('loss_mask', 'loss_dice'):
        torch.testing.assert_close(shared[key], local[key] * 3.0 / expected_divisor)
    torch.testing.assert_close(shared['loss_cls'], local['loss_cls'])


def test_built_from_plugin_scope_with_empty_weight_buffer():
    criterion = build_in_plugin_scope(dict(type='Mask2FormerCriterion', num_classes=3), MODELS)
    assert isinstance(criterion, Mask2FormerCriterion)
    assert isinstance(criterion.matcher, HungarianMatcher)
    assert criterion.matcher.num_points == 12544 and criterion.matcher.cost_class == 2.0
    torch.testing.assert_close(criterion.state_dict()['empty_weight'],
                               torch.tensor([1.0, 1.0, 1.0, 0.1]))


def test_rejects_mismatched_inputs():
    criterion = make_criterion(2)
    cls_logits, mask_logits, targets = hand_case()
    with pytest.raises(ValueError, match='equal'):
        criterion([cls_logits, cls_logits], [mask_logits], targets)
    with pytest.raises(ValueError, match='batch size'):
        criterion([cls_logits], [mask_logits], targets * 2)


def shape_only_rand(real_rand):
    """A ``torch.rand`` whose output depends only on the trailing (T, 2) of the shape.

    Both implementations then read identical points however they batch the draws.
    """
    def rand(*size, device=None, dtype=None, **_):
        shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
        pattern = real_rand(shape[-2:], generator=torch.Generator().manual_seed(shape[-2]))
        return pattern.expand(shape).clone().to(device=device, dtype=dtype or torch.float32)
    return rand


def mmdet_head(num_things, num_stuff, num_queries, num_points):
    """mmdet 3.3.0's Mask2FormerHead from its R50 panoptic config, at tiny widths."""
    import mmdet
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.config import Config

    # The configs mmdet installs with its package (what 'mmdet::' refers to).
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs',
                                       'mask2former',
                                       'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'))
    head = cfg.model.panoptic_head
    width = 32
    head.update(in_channels=[8, 16, 32, 64], feat_channels=width, out_channels=width,
                num_things_classes=num_things, num_stuff_classes=num_stuff,
                num_queries=num_queries)
    encoder_layer = head.pixel_decoder.encoder.layer_cfg
    encoder_layer.self_attn_cfg.embed_dims = width
    encoder_layer.ffn_cfg.update(embed_dims=width, feedforward_channels=64)
    head.pixel_decoder.positional_encoding.num_feats = width // 2
    head.positional_encoding.num_feats = width // 2
    decoder_layer = head.transformer_decoder.layer_cfg
    decoder_layer.self_attn_cfg.embed_dims = width
    decoder_layer.cross_attn_cfg.embed_dims = width
    decoder_layer.ffn_cfg.update(embed_dims=width, feedforward_channels=64)
    head.loss_cls.class_weight = [1.0] * (num_things + num_stuff) + [0.1]
    train_cfg = cfg.model.train_cfg
    train_cfg.num_points = num_points
    head.update(train_cfg=train_cfg, test_cfg=cfg.model.test_cfg)
    return MMDET_MODELS.build(head)


def test_total_loss_equals_mmdet_mask2former_head(monkeypatch):
    """Every image has targets: mmdet counts an image without targets as one mask
    in the normaliser, whereas the reference (and this criterion) counts zero."""
    from mmengine.structures import InstanceData

    num_things, num_stuff, num_queries, num_points = 5, 2, 10, 300
    num_classes = num_things + num_stuff
    head = mmdet_head(num_things, num_stuff, num_queries, num_points)
    ours = make_criterion(num_classes, num_points=num_points)

    g = torch.Generator().manual_seed(6)
    cls_preds, mask_preds = random_predictions(10, 2, num_queries, num_classes, 16, g)
    targets = random_targets([3, 4], num_classes, 64, g)  # 4x the prediction size
    gt_instances = [InstanceData(labels=t['labels'], masks=t['masks']) for t in targets]
    img_metas = [dict(img_shape=(64, 64), batch_input_shape=(64, 64))] * 2

    monkeypatch.setattr(torch, 'rand', shape_only_rand(torch.rand))
    expected = head.loss_by_feat(cls_preds, mask_preds, gt_instances, img_metas)
    losses = ours(cls_preds, mask_preds, targets)

    assert set(losses) == set(expected)
    for key, value in expected.items():
        # mmdet divides by a (1,) avg_factor, so some of its losses are (1,).
        torch.testing.assert_close(losses[key], value.reshape(()), rtol=1e-5, atol=1e-6)
    total, expected_total = sum(losses.values()), sum(expected.values())
    assert abs(total.item() - expected_total.item()) <= 1e-4 * expected_total.item()


def test_class_weight_list_weighs_the_cross_entropy():
    cls_logits, mask_logits, targets = hand_case()
    weights = [0.5, 3.0, 0.1]
    torch.manual_seed(0)
    losses = make_criterion(2, num_points=16, class_weight=weights)(
        [cls_logits], [mask_logits], targets)
    labels = torch.tensor([1, 2, 2])  # query 0 -> class 1, the others no object
    expected = 2.0 * F.cross_entropy(cls_logits[0], labels, weight=torch.tensor(weights))
    assert losses['loss_cls'].item() == pytest.approx(expected.item(), rel=1e-6)
    torch.manual_seed(0)
    default = make_criterion(2, num_points=16)([cls_logits], [mask_logits], targets)
    assert losses['loss_cls'] != default['loss_cls']
    assert losses['loss_mask'] == default['loss_mask']  # the mask losses are untouched


@pytest.mark.parametrize('weights, message', [
    ([1.0, 0.1], r'criterion.class_weight has 2 entries; the head has 2 classes, so it needs 3'),
    ([1.0, 1.0, 0.2], r'criterion.class_weight\[-1\]=0.2 .* criterion.no_object_weight=0.1'),
])
def test_class_weight_is_checked_against_the_classes(weights, message):
    with pytest.raises(ValueError, match=message):
        make_criterion(2, class_weight=weights)


def test_focal_mask_loss_by_hand_and_in_the_matcher():
    cls_logits, mask_logits, targets = hand_case()
    criterion = make_criterion(2, num_points=16, point_sampled=False, mask_loss='focal',
                               mask_loss_weight=20.0, dice_loss_weight=1.0)
    assert criterion.matcher.mask_cost == 'focal' and criterion.matcher.cost_mask == 20.0
    losses = criterion([cls_logits], [mask_logits], targets)
    # Query 0 is matched; each of its 4 pixels is right with logit magnitude 2.
    p = 1 / (1 + math.exp(-2))
    fg = -0.25 * (1 - p) ** 2 * math.log(p)
    bg = -0.75 * (1 - p) ** 2 * math.log(p)
    assert losses['loss_mask'].item() == pytest.approx(20.0 * (2 * fg + 2 * bg) / 4, rel=1e-6)
    with pytest.raises(ValueError, match='criterion.mask_loss'):
        make_criterion(2, mask_loss='dice')


def test_uniform_sampling_ignores_the_logits(monkeypatch):
    """importance_sample_ratio=0 reads the loss on uniform points, whatever the masks."""
    captured = []
    real = criterion_module.point_sample

    def spy(inputs, points):
        captured.append(points)
        return real(inputs, points)

    monkeypatch.setattr(criterion_module, 'point_sample', spy)
    cls_logits, mask_logits, targets = hand_case()
    for ratio in (0.0, 0.75):
        points = []
        for shift in (0.0, 1.5):  # moves the decision boundary
            captured.clear()
            torch.manual_seed(0)
            make_criterion(2, num_points=64, importance_sample_ratio=ratio)(
                [cls_logits], [mask_logits + shift], targets)
            points.append(captured[0])
        assert torch.equal(*points) == (ratio == 0.0)
