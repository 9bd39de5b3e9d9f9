"""Tests for m2f_mm.models.matcher.HungarianMatcher."""
import pytest
import torch
import torch.nn.functional as F

from m2f_mm.models.criterion import Mask2FormerCriterion
from m2f_mm.models.matcher import HungarianMatcher
from m2f_mm.models.point_sample import point_sample
from m2f_mm.registry import TASK_UTILS, build_in_plugin_scope



def _paper_matcher(num_points):
    """The matcher as the criterion builds it: the paper's 2 / 5 / 5 cost weights."""
    return Mask2FormerCriterion(num_classes=3, num_points=num_points).matcher


def random_blob_logits(num, h, w, generator):
    """(num, h, w) smooth logits, each positive on a different random disc."""
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing='ij')
    centres = torch.rand(num, 2, generator=generator) * torch.tensor([h, w])
    radii = 2 + torch.rand(num, generator=generator) * h / 4
    dist = ((ys - centres[:, 0, None, None]) ** 2 + (xs - centres[:, 1, None, None]) ** 2).sqrt()
    return 3.0 * (radii[:, None, None] - dist)


def test_recovers_a_planted_permutation():
    g = torch.Generator().manual_seed(0)
    num_queries, num_classes, num_targets = 8, 4, 5
    mask_logits = random_blob_logits(num_queries, 16, 16, g)
    cls_logits = torch.randn(num_queries, num_classes + 1, generator=g)
    # Targets are the masks and classes of 5 shuffled queries, at 4x the resolution.
    planted = torch.randperm(num_queries, generator=g)[:num_targets]
    gt_masks = F.interpolate(mask_logits[planted, None], scale_factor=4.0, mode='bilinear',
                             align_corners=False)[:, 0] > 0
    gt_labels = cls_logits[planted, :num_classes].argmax(-1)
    cls_logits[planted, gt_labels] += 5.0  # confident in the right class

    query_idx, target_idx = _paper_matcher(1024).match(
        cls_logits, mask_logits, gt_labels, gt_masks)

    assert query_idx.dtype == target_idx.dtype == torch.long
    assert torch.equal(query_idx, planted.sort().values)  # sorted by query
    assert torch.equal(planted[target_idx], query_idx)


def test_zero_targets_give_two_empty_long_tensors():
    matcher = _paper_matcher(16)
    query_idx, target_idx = matcher.match(torch.randn(6, 4), torch.randn(6, 8, 8),
                                          torch.zeros(0, dtype=torch.long),
                                          torch.zeros(0, 32, 32, dtype=torch.bool))
    for idx in (query_idx, target_idx):
        assert idx.dtype == torch.long and idx.shape == (0,)


def test_more_targets_than_queries_matches_every_query_once():
    torch.manual_seed(0)
    query_idx, target_idx = _paper_matcher(64).match(
        torch.randn(3, 5), torch.randn(3, 8, 8), torch.randint(0, 4, (7,)),
        torch.rand(7, 16, 16) > 0.5)
    assert torch.equal(query_idx, torch.arange(3))
    assert len(set(target_idx.tolist())) == 3 and target_idx.max() < 7


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_costs_are_rejected(bad):
    mask_logits = torch.zeros(4, 8, 8)
    mask_logits[2] = bad
    with pytest.raises(ValueError, match='NaN or inf'):
        _paper_matcher(32).match(torch.zeros(4, 3), mask_logits,
                                              torch.tensor([0, 1]), torch.ones(2, 8, 8))


def test_cost_matrix_terms_by_hand():
    # One query, one target, two points: every term can be written out.
    logits = torch.tensor([[0.0, 2.0]])  # sigmoid: 0.5, 0.8808
    targets = torch.tensor([[1.0, 0.0]])
    cls_logits = torch.log(torch.tensor([[0.2, 0.3, 0.5]]))  # softmax = the probabilities
    p1 = torch.sigmoid(torch.tensor(2.0))
    class_cost = -0.3
    bce_cost = (torch.log(torch.tensor(2.0)) + torch.log1p(torch.exp(torch.tensor(2.0)))) / 2
    dice_cost = 1 - (2 * 0.5 + 1) / (0.5 + p1 + 1 + 1)
    cost = HungarianMatcher(cost_class=2.0, cost_mask=5.0, cost_dice=5.0, num_points=1).cost_matrix(
        cls_logits, logits, torch.tensor([1]), targets)
    assert cost.shape == (1, 1)
    torch.testing.assert_close(cost[0, 0], 2.0 * class_cost + 5.0 * bce_cost + 5.0 * dice_cost)


def test_points_are_drawn_once_per_image_and_shared(monkeypatch):
    shapes = []
    real_rand = torch.rand

    def recording_rand(*args, **kwargs):
        out = real_rand(*args, **kwargs)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(torch, 'rand', recording_rand)
    _paper_matcher(50).match(torch.randn(5, 3), torch.randn(5, 8, 8),
                                          torch.tensor([0, 1, 1]), torch.ones(3, 16, 16))
    assert shapes == [(1, 50, 2)]


def test_built_from_plugin_scope():
    matcher = build_in_plugin_scope(dict(type='HungarianMatcher', cost_class=2.0, cost_mask=5.0,
                                         cost_dice=5.0, num_points=7), TASK_UTILS)
    assert isinstance(matcher, HungarianMatcher) and matcher.num_points == 7


def test_equals_mmdet_hungarian_assigner():
    """Same costs and assignment as mmdet 3.3.0 on the same point-sampled inputs."""
    from mmdet.models.task_modules.assigners import HungarianAssigner
    from mmengine.structures import InstanceData

    assigner = HungarianAssigner(match_costs=[
        dict(type='ClassificationCost', weight=2.0),
        dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
        dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)])
    matcher = _paper_matcher(500)
    g = torch.Generator().manual_seed(1)
    for num_queries, num_targets in [(10, 4), (10, 10), (6, 1)]:
        cls_logits = torch.randn(num_queries, 8, generator=g)
        mask_logits = 2 * torch.randn(num_queries, 12, 12, generator=g)
        gt_labels = torch.randint(0, 7, (num_targets,), generator=g)
        gt_masks = torch.rand(num_targets, 48, 48, generator=g) > 0.6

        # Reproduce the matcher's single point draw, as mmdet's head samples.
        torch.manual_seed(num_targets)
        points = torch.rand((1, 500, 2))
        point_logits = point_sample(mask_logits[:, None], points.repeat(num_queries, 1, 1))[:, 0]
        point_targets = point_sample(gt_masks[:, None].float(),
                                     points.repeat(num_targets, 1, 1))[:, 0]
        pred = InstanceData(scores=cls_logits, masks=point_logits)
        gt = InstanceData(labels=gt_labels, masks=point_targets)
        mmdet_cost = sum(cost(pred, gt) for cost in assigner.match_costs)
        torch.testing.assert_close(
            matcher.cost_matrix(cls_logits, point_logits, gt_labels, point_targets),
            mmdet_cost, rtol=1e-5, atol=1e-5)

        gt_inds = assigner.assign(pred, gt).gt_inds  # 1-based target per query, 0 = none
        torch.manual_seed(num_targets)
        query_idx, target_idx = matcher.match(cls_logits, mask_logits, gt_labels, gt_masks)
        assert torch.equal(query_idx, torch.nonzero(gt_inds > 0)[:, 0])
        assert torch.equal(target_idx, gt_inds[query_idx] - 1)


def test_criterion_fills_the_matcher_from_its_loss_settings():
    matcher = Mask2FormerCriterion(num_classes=3, cls_loss_weight=1.5, mask_loss_weight=4.0,
                                   dice_loss_weight=3.0, num_points=77).matcher
    assert (matcher.cost_class, matcher.cost_mask, matcher.cost_dice) == (1.5, 4.0, 3.0)
    assert matcher.num_points == 77
    paper = _paper_matcher(12544)
    assert (paper.cost_class, paper.cost_mask, paper.cost_dice) == (2.0, 5.0, 5.0)
    # An explicit matcher setting wins over the loss's.
    override = Mask2FormerCriterion(num_classes=3, num_points=77,
                                    matcher=dict(type='HungarianMatcher', num_points=5)).matcher
    assert override.num_points == 5 and override.cost_dice == 5.0


def test_full_mask_matching_compares_every_pixel_at_the_prediction_size():
    g = torch.Generator().manual_seed(1)
    mask_logits = random_blob_logits(6, 16, 16, g)
    cls_logits = torch.randn(6, 4, generator=g)
    gt_masks = torch.rand(3, 64, 64, generator=g) > 0.5
    gt_labels = torch.tensor([0, 2, 1])
    matcher = HungarianMatcher(2.0, 5.0, 5.0, num_points=100, point_sampled=False)
    target = dict(labels=gt_labels, masks=gt_masks)
    state = torch.get_rng_state()
    cost = matcher._image_cost(cls_logits, mask_logits, target)
    assert torch.equal(torch.get_rng_state(), state)  # no random points drawn
    # By hand: the targets nearest-resized to 16 x 16, every pixel compared.
    small = gt_masks[:, ::4, ::4].float().flatten(1)  # torch's 'nearest' takes floor(i * 4)
    logits = mask_logits.flatten(1)
    for q in range(6):
        for m in range(3):
            bce = F.binary_cross_entropy_with_logits(logits[q], small[m])
            p = logits[q].sigmoid()
            dice = 1 - (2 * (p * small[m]).sum() + 1) / (p.sum() + small[m].sum() + 1)
            expected = -2.0 * cls_logits[q].softmax(-1)[gt_labels[m]] + 5.0 * bce + 5.0 * dice
            assert cost[q, m] == pytest.approx(expected.item(), rel=1e-5)
    assert 'point_sampled=False' in repr(matcher)


def test_unknown_mask_cost_names_the_key():
    with pytest.raises(ValueError, match='criterion.matcher.mask_cost'):
        HungarianMatcher(2.0, 5.0, 5.0, num_points=10, mask_cost='l2')
