"""Semantic, panoptic and instance inference, on hand-made predictions."""
import math

import pytest
import torch

from m2f_mm.models.inference import (Mask2FormerInference, instance_inference,
                                     panoptic_inference, resize_mask_logits, semantic_inference)

BIG = 20.0  # a logit whose sigmoid / softmax is 1 to float precision


def _cls(labels, num_classes, score_logit=BIG):
    """(Q, K + 1) logits putting almost all mass on each query's label."""
    logits = torch.zeros(len(labels), num_classes + 1)
    for q, label in enumerate(labels):
        logits[q, label] = score_logit
    return logits


def _box_mask(h, w, rows, cols, inside=BIG, outside=-BIG):
    m = torch.full((h, w), outside)
    m[rows[0]:rows[1], cols[0]:cols[1]] = inside
    return m


def _panoptic(cls_logits, masks, **thresholds):
    """panoptic_inference with two thing classes and Mask2FormerInference's
    default thresholds (0.8 and 0.8), unless given."""
    defaults = Mask2FormerInference(num_classes=cls_logits.shape[-1] - 1)
    thresholds = dict(dict(object_mask_threshold=defaults.object_mask_threshold,
                           overlap_threshold=defaults.overlap_threshold), **thresholds)
    return panoptic_inference(cls_logits, masks, num_things=2, **thresholds)


def test_semantic_is_class_prob_times_mask_prob():
    cls_logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]])
    mask_logits = torch.tensor([[[0.0, 3.0]], [[-2.0, 1.0]]])  # (Q=2, 1, 2)
    scores = semantic_inference(cls_logits, mask_logits)
    probs = cls_logits.softmax(-1)
    expected_c1_px1 = probs[0, 1] * torch.sigmoid(torch.tensor(3.0)) + \
        probs[1, 1] * torch.sigmoid(torch.tensor(1.0))
    assert scores.shape == (2, 1, 2)
    torch.testing.assert_close(scores[1, 0, 1], expected_c1_px1)


def test_panoptic_keeps_merges_and_drops():
    # K = 4: classes 0, 1 things; 2, 3 stuff.
    h, w = 8, 8
    labels = [0, 0, 2, 2, 1, 4, 3]
    cls_logits = _cls(labels, 4)
    cls_logits[4] = torch.tensor([1.0, 1.5, 0.0, 0.0, 0.0])  # class 1 but score < 0.8
    masks = torch.stack([
        _box_mask(h, w, (0, 4), (0, 4)),     # q0 thing 0, top-left
        _box_mask(h, w, (0, 4), (4, 8)),     # q1 thing 0, top-right: second instance
        _box_mask(h, w, (4, 8), (0, 2)),     # q2 stuff 2
        _box_mask(h, w, (4, 8), (6, 8)),     # q3 stuff 2 again: merged with q2
        _box_mask(h, w, (4, 8), (2, 6)),     # q4 low score: dropped
        _box_mask(h, w, (4, 8), (2, 6)),     # q5 "no object": dropped
        _box_mask(h, w, (0, 5), (0, 5)),     # q6 stuff 3, mostly under q0
    ])
    cls_logits[6, 3] = 5.0  # lower score than q0 so q0 wins the overlap
    segment_map, segments = _panoptic(cls_logits, masks)
    # q6 keeps 3 of its 25 pixels (< 0.8 of its mask): dropped.
    assert [(s['label'], s['isthing']) for s in segments] == [(0, True), (0, True), (2, False)]
    assert [s['id'] for s in segments] == [1, 2, 3]
    assert (segment_map[:4, :4] == 1).all() and (segment_map[:4, 4:] == 2).all()
    assert (segment_map[4:, :2] == 3).all() and (segment_map[4:, 6:] == 3).all()
    assert (segment_map[4:, 2:6] == 0).all()  # void where nothing was kept
    assert segments[0]['score'] == pytest.approx(1.0, abs=1e-6)


def test_panoptic_overlap_threshold_is_configurable():
    h, w = 8, 8
    cls_logits = _cls([0, 3], 4)
    cls_logits[1, 3] = 5.0
    masks = torch.stack([_box_mask(h, w, (0, 4), (0, 4)), _box_mask(h, w, (0, 5), (0, 5))])
    _, strict = _panoptic(cls_logits, masks)
    _, loose = _panoptic(cls_logits, masks, overlap_threshold=0.3)
    assert len(strict) == 1 and len(loose) == 2


def test_panoptic_with_nothing_confident_is_all_void():
    segment_map, segments = _panoptic(torch.zeros(3, 5), torch.zeros(3, 4, 4))
    assert segments == [] and (segment_map == 0).all()


def test_instance_scores_and_things_filter():
    h, w = 4, 4
    cls_logits = torch.full((2, 4), -BIG)
    cls_logits[0, 0] = BIG          # query 0: thing 0
    cls_logits[1, 2] = BIG          # query 1: stuff 2
    mask = torch.full((h, w), -3.0)
    mask[:2, :2] = math.log(3.0)    # sigmoid = 0.75 on 4 pixels
    masks = torch.stack([mask, mask])
    result = instance_inference(cls_logits, masks, max_per_image=8)
    assert result['scores'].shape == (6,)
    assert result['labels'][:2].tolist() in ([0, 2], [2, 0])
    torch.testing.assert_close(result['scores'][0], torch.tensor(0.75), atol=1e-5, rtol=0)
    assert result['masks'][0].sum() == 4 and result['masks'].dtype == torch.bool
    things = instance_inference(cls_logits, masks, max_per_image=8, num_things=2)
    assert 2 not in things['labels'].tolist() and 3 not in things['labels'].tolist()
    assert (things['scores'][:-1] >= things['scores'][1:]).all()


def test_instance_top_k_is_capped():
    result = instance_inference(torch.randn(5, 4), torch.randn(5, 3, 3), max_per_image=100)
    assert result['labels'].numel() == 15


def test_resize_crops_padding_then_rescales():
    logits = torch.full((1, 4, 6), -1.0)
    logits[0, :2, :3] = 1.0  # the image occupies the top-left of the padded input
    out = resize_mask_logits(logits, pad_size=(8, 12), img_size=(4, 6), ori_size=(20, 30))
    assert out.shape == (1, 20, 30)
    # Only the image area is stretched to the original size: resizing the whole
    # padded map instead would put the padding's -1 in the bottom-right corner.
    assert out[0, :12, :18].min() > 0.99 and out.min() > 0
    assert resize_mask_logits(logits, (8, 12), (4, 6)).shape == (1, 4, 6)
    # mmseg crops and resizes itself: the padded input size alone.
    assert resize_mask_logits(logits, (8, 12)).shape == (1, 8, 12)


def test_all_three_from_one_call():
    infer = Mask2FormerInference(num_classes=4, num_things_classes=2, semantic_on=True,
                                 panoptic_on=True, instance_on=True)
    out = infer(torch.randn(6, 5), torch.randn(6, 8, 8))
    assert set(out) == {'semantic', 'panoptic', 'instance'}
    assert out['semantic'].shape == (4, 8, 8)
    assert (out['instance']['labels'] < 2).all()
    with pytest.raises(ValueError, match='at least one'):
        Mask2FormerInference(num_classes=4, panoptic_on=False)


@pytest.mark.parametrize('semantic_on,panoptic_on,instance_on',
                         [(False, True, False), (False, False, True), (False, True, True),
                          (True, True, True)])
def test_only_read_masks_are_resized(semantic_on, panoptic_on, instance_on):
    torch.manual_seed(0)
    num_queries, size = 12, (9, 7)
    cls_logits = torch.randn(num_queries, 6)
    cls_logits[:4, 0] = 10.0  # confident things, then a stuff query
    cls_logits[4, 3] = 10.0
    mask_logits = torch.randn(num_queries, 5, 3)
    mask_logits[:5] = -10.0
    for q in range(5):  # each confident query owns one row
        mask_logits[q, q] = 10.0
    infer = Mask2FormerInference(num_classes=5, num_things_classes=2, semantic_on=semantic_on,
                                 panoptic_on=panoptic_on, instance_on=instance_on,
                                 max_per_image=6)
    resized_rows = []

    def resize(masks):
        resized_rows.append(masks.shape[0])
        return resize_mask_logits(masks, size)

    out = infer(cls_logits, mask_logits, resize)
    expected = infer(cls_logits, resize_mask_logits(mask_logits, size))
    assert set(out) == set(expected)
    if panoptic_on:
        assert out['panoptic'][1] == expected['panoptic'][1] and len(out['panoptic'][1]) > 0
        assert torch.equal(out['panoptic'][0], expected['panoptic'][0])
    if instance_on:
        for key in ('labels', 'scores', 'masks'):
            assert torch.equal(out['instance'][key], expected['instance'][key])
    if semantic_on:
        assert torch.equal(out['semantic'], expected['semantic'])
    # One resize, of the picked queries only unless semantic reads them all.
    assert len(resized_rows) == 1
    assert (resized_rows[0] == num_queries) == semantic_on


def test_nothing_picked_resizes_nothing():
    infer = Mask2FormerInference(num_classes=4)
    resize = lambda m: resize_mask_logits(m, (8, 8), (6, 6), (12, 10))  # noqa: E731
    segment_map, segments = infer(torch.zeros(3, 5), torch.zeros(3, 4, 4), resize)['panoptic']
    assert segments == [] and segment_map.shape == (12, 10) and (segment_map == 0).all()
