"""COCO panoptic quality: hand-computed cases on the real COCO sample and on tiny maps.

Expected values are worked out here from pixel counts taken with plain numpy
masks and from the COCO definition, never by calling the code under test. On
the real sample, the per-category counts are also checked against panopticapi's
own matching code (the copy in mmdet, run with stand-ins for its two imports).
"""
import copy
import functools
import json
import tempfile
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from mmdet.evaluation.functional import panoptic_utils
from PIL import Image

from m2f_mm.datasets.panoptic_png import PanopticFormatError
from m2f_mm.evaluation.panoptic_quality import PQStat, pq_average, pq_stat_single

# Two real COCO val images with panoptic annotations (see tests/data/README.md).
FIXTURE = Path(__file__).resolve().parents[1] / 'data' / 'coco_panoptic_sample'

# Image 142238: 13 people, 1 crowd of people, 1 sports ball, tree, sky, grass.
IMG = 142238
PERSON, BICYCLE, BALL, TREE, SKY, GRASS = 1, 2, 37, 184, 187, 193
CROWD_ID, BALL_ID, TREE_ID, GRASS_ID = 3153362, 16757838, 2330219, 10025880


def ids_of(rgb: np.ndarray) -> np.ndarray:
    """id = R + 256 G + 256^2 B, by hand."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def read_ids(path) -> np.ndarray:
    return ids_of(np.asarray(Image.open(path).convert('RGB')))


@functools.lru_cache(maxsize=None)
def coco() -> dict:
    with open(FIXTURE / 'panoptic_annotations.json') as f:
        return json.load(f)


def isthing() -> dict:
    return {c['id']: bool(c['isthing']) for c in coco()['categories']}


def annotation(img_id: int) -> dict:
    return copy.deepcopy(next(a for a in coco()['annotations'] if a['image_id'] == img_id))


def image(img_id: int = IMG):
    """A fresh (id map, segments_info) pair of one sample image."""
    ann = annotation(img_id)
    return read_ids(FIXTURE / 'panoptic' / ann['file_name']), ann['segments_info']


def count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def persons(segments: list) -> list:
    return [s for s in segments if s['category_id'] == PERSON and not s['iscrowd']]


class _Counters(dict):
    """Stands in for panopticapi's PQStat: category id -> tp, fp, fn, iou."""

    def __missing__(self, category_id):
        self[category_id] = types.SimpleNamespace(tp=0, fp=0, fn=0, iou=0.0)
        return self[category_id]


def flat_counts(per_category: dict) -> dict:
    return {(c, key): getattr(v, key) for c, v in per_category.items()
            for key in ('tp', 'fp', 'fn', 'iou')}


def panopticapi_counts(img_id, pred_ids, pred_segments) -> dict:
    """Counts from panopticapi's matching code, as mmdet copies it.

    That copy needs from panopticapi only the PQStat container and rgb2id.
    """
    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(panoptic_utils, 'PQStat', _Counters), \
            mock.patch.object(panoptic_utils, 'rgb2id', ids_of):
        rgb = np.stack([pred_ids % 256, pred_ids // 256 % 256, pred_ids // 65536], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(f'{tmp}/pred.png')
        pred = dict(image_id=img_id, file_name='pred.png',
                    segments_info=copy.deepcopy(pred_segments))
        counts = panoptic_utils.pq_compute_single_core(
            0, [(annotation(img_id), pred)], str(FIXTURE / 'panoptic'), tmp,
            {c['id']: c for c in coco()['categories']})
    return flat_counts(counts)


def score(pred_ids, pred_segments, img_id: int = IMG) -> dict:
    """Our PQ of a prediction, once its counts are checked against panopticapi's."""
    gt_ids, gt_segments = image(img_id)
    stat = pq_stat_single(gt_ids, gt_segments, pred_ids, pred_segments)
    assert flat_counts(stat.per_category) == pytest.approx(
        panopticapi_counts(img_id, pred_ids, pred_segments))
    return pq_average(stat, isthing())


def assert_summary(result, all_pq, things_pq, stuff_pq):
    assert result['All']['pq'] == pytest.approx(100 * all_pq)
    assert result['Things']['pq'] == pytest.approx(100 * things_pq)
    assert result['Stuff']['pq'] == pytest.approx(100 * stuff_pq)


# --- the real sample -----------------------------------------------------------------------------

@pytest.mark.parametrize('img_id, n_things, n_stuff', [(142238, 2, 3), (439180, 3, 4)])
def test_ground_truth_against_itself_is_100(img_id, n_things, n_stuff):
    ids, segments = image(img_id)
    result = score(ids, segments, img_id)  # the crowd, predicted as a person, is ignored
    for group, n in [('All', n_things + n_stuff), ('Things', n_things), ('Stuff', n_stuff)]:
        assert result[group] == pytest.approx(dict(pq=100, sq=100, rq=100, n=n))


def test_dropped_segment_is_a_false_negative():
    ids, segments = image()
    n = len(persons(segments))
    dropped = persons(segments)[0]['id']
    pred = np.where(ids == dropped, 0, ids)
    result = score(pred, [s for s in segments if s['id'] != dropped])

    # person: n - 1 TP of IoU 1, one FN; the other four categories stay perfect.
    person_pq = (n - 1) / ((n - 1) + 0.5 * 1)
    assert result['per_class'][PERSON] == pytest.approx(
        dict(pq=100 * person_pq, sq=100, rq=100 * person_pq, tp=n - 1, fp=0, fn=1))
    assert_summary(result, (person_pq + 4) / 5, (person_pq + 1) / 2, 1)
    assert result['All']['sq'] == pytest.approx(100)


def test_merging_a_small_person_into_a_large_one():
    ids, segments = image()
    n = len(persons(segments))
    big, small = 4325578, 3997935
    area_big, area_small = count(ids == big), count(ids == small)
    pred = np.where(ids == small, big, ids)
    result = score(pred, [s for s in segments if s['id'] != small])

    # The merged prediction covers the big person and nothing outside people:
    # IoU = area_big / (area_big + area_small) > 0.5, so it matches; the small one is a FN.
    iou = area_big / (area_big + area_small)
    assert iou > 0.5
    person_pq = ((n - 2) + iou) / ((n - 1) + 0.5 * 1)
    assert result['per_class'][PERSON]['sq'] == pytest.approx(100 * ((n - 2) + iou) / (n - 1))
    assert_summary(result, (person_pq + 4) / 5, (person_pq + 1) / 2, 1)


def test_merging_three_similar_persons_matches_none():
    ids, segments = image()
    n = len(persons(segments))
    merged = [3937500, 5186532, 2098642]
    areas = [count(ids == i) for i in merged]
    pred = np.where(np.isin(ids, merged[1:]), merged[0], ids)
    result = score(pred, [s for s in segments if s['id'] not in merged[1:]])

    # Each person is under half of the merged segment: 3 FN, and the merged
    # segment (on no VOID and no crowd) is one FP.
    assert max(areas) / sum(areas) < 0.5
    person_pq = (n - 3) / ((n - 3) + 0.5 * 1 + 0.5 * 3)
    assert result['per_class'][PERSON]['fp'] == 1
    assert_summary(result, (person_pq + 4) / 5, (person_pq + 1) / 2, 1)


@pytest.mark.parametrize('shift, matched', [(2, True), (20, False)])
def test_shifted_ball(shift, matched):
    ids, segments = image()
    ball, void, tree = ids == BALL_ID, ids == 0, ids == TREE_ID
    moved = np.zeros_like(ball)
    moved[:, shift:] = ball[:, :-shift]
    pred = np.where(ball, 0, ids)
    pred[moved] = BALL_ID
    result = score(pred, segments)

    # The moved ball lands on ball, crowd (person) and tree pixels only, so the
    # tree's prediction shrinks and the crowd's stays on the crowd (ignored).
    assert set(np.unique(ids[moved])) <= {BALL_ID, CROWD_ID, TREE_ID}
    inter = count(ball & moved)
    ball_iou = inter / (count(moved) + count(ball) - inter - count(moved & void))
    assert (ball_iou > 0.5) == matched
    if matched:
        ball_pq = ball_iou  # 1 TP
    else:
        # 1 FN and 1 FP: a crowd of *people* does not excuse a ball.
        assert count(moved & void) / count(moved) <= 0.5
        ball_pq = 0.0
    tree_pq = (count(tree) - count(moved & tree)) / count(tree)
    assert_summary(result, (1 + ball_pq + tree_pq + 1 + 1) / 5, (1 + ball_pq) / 2,
                   (tree_pq + 1 + 1) / 3)


def test_relabelled_segment():
    ids, segments = image()
    n = len(persons(segments))
    relabelled = persons(segments)[0]['id']
    person_pq = (n - 1) / ((n - 1) + 0.5 * 1)  # the person is missed

    # As a bicycle: a FP in a category absent from the ground truth, which now counts.
    pred_segments = copy.deepcopy(segments)
    next(s for s in pred_segments if s['id'] == relabelled)['category_id'] = BICYCLE
    result = score(ids, pred_segments)
    assert result['per_class'][BICYCLE] == pytest.approx(dict(pq=0, sq=0, rq=0, tp=0, fp=1, fn=0))
    assert (result['All']['n'], result['Things']['n']) == (6, 3)
    assert_summary(result, (person_pq + 0 + 1 + 3) / 6, (person_pq + 0 + 1) / 3, 1)

    # As a sports ball: the real ball still matches, plus one FP.
    next(s for s in pred_segments if s['id'] == relabelled)['category_id'] = BALL
    result = score(ids, pred_segments)
    ball_pq = 1 / (1 + 0.5 * 1)
    assert_summary(result, (person_pq + ball_pq + 3) / 5, (person_pq + ball_pq) / 2, 1)


def test_prediction_on_a_crowd_of_its_own_category_is_ignored():
    ids, segments = image()
    crowd, tree = ids == CROWD_ID, ids == TREE_ID
    taken = np.flatnonzero(tree)[:10000]
    pred = ids.copy()
    pred.flat[taken] = CROWD_ID  # the crowd's prediction also takes 10000 tree pixels
    result = score(pred, segments)

    # Person prediction, unmatched, more than half on the person crowd: ignored.
    assert count(crowd) / (count(crowd) + len(taken)) > 0.5
    tree_pq = (count(tree) - len(taken)) / count(tree)
    assert_summary(result, (1 + 1 + tree_pq + 1 + 1) / 5, 1, (tree_pq + 1 + 1) / 3)

    # The same pixels predicted as a sports ball are a FP: the crowd is of people.
    ball_segments = copy.deepcopy(segments)
    next(s for s in ball_segments if s['id'] == CROWD_ID)['category_id'] = BALL
    result = score(ids, ball_segments)
    ball_pq = 1 / (1 + 0.5 * 1)
    assert_summary(result, (1 + ball_pq + 3) / 5, (1 + ball_pq) / 2, 1)


@pytest.mark.parametrize('grass_pixels, ignored', [(1000, True), (3000, False)])
def test_prediction_mostly_on_void_is_ignored(grass_pixels, ignored):
    ids, segments = image()
    void, grass = ids == 0, ids == GRASS_ID
    extra_id = 999
    pred = np.where(void, extra_id, ids)
    pred.flat[np.flatnonzero(grass)[:grass_pixels]] = extra_id
    result = score(pred, segments + [dict(id=extra_id, category_id=SKY)])

    # A "sky" segment on all VOID pixels plus some grass; it matches nothing.
    assert (count(void) / (count(void) + grass_pixels) > 0.5) == ignored
    grass_pq = (count(grass) - grass_pixels) / count(grass)
    sky_pq = 1 if ignored else 1 / (1 + 0.5 * 1)
    assert_summary(result, (1 + 1 + 1 + sky_pq + grass_pq) / 5, 1, (1 + sky_pq + grass_pq) / 3)


# --- tiny synthetic maps ------------------------------------------------------------------------

THING, STUFF = 10, 20
CATEGORIES = {THING: True, STUFF: False}


def thing(seg_id: int, crowd: int = 0) -> dict:
    return dict(id=seg_id, category_id=THING, iscrowd=crowd)


def stuff(seg_id: int) -> dict:
    return dict(id=seg_id, category_id=STUFF)


def synthetic(gt, gt_segments, pred, pred_segments) -> dict:
    stat = pq_stat_single(np.array(gt), gt_segments, np.array(pred), pred_segments)
    return pq_average(stat, CATEGORIES)


def test_iou_of_exactly_one_half_is_not_a_match():
    # IoU = 2 / (4 + 2 - 2) = 0.5: thing FN + FP; the stuff segment under it is a FN.
    result = synthetic([[1, 1, 2, 2]], [thing(1), stuff(2)], [[7, 7, 7, 7]], [thing(7)])
    assert result['per_class'][THING] == pytest.approx(dict(pq=0, sq=0, rq=0, tp=0, fp=1, fn=1))
    assert result['All'] == pytest.approx(dict(pq=0, sq=0, rq=0, n=2))


def test_iou_just_above_one_half_matches():
    # IoU = 3 / (4 + 3 - 3) = 0.75: PQ = SQ = 75, RQ = 100; the stuff segment is a FN.
    result = synthetic([[1, 1, 1, 2]], [thing(1), stuff(2)], [[7, 7, 7, 7]], [thing(7)])
    assert result['Things'] == pytest.approx(dict(pq=75, sq=75, rq=100, n=1))
    assert result['Stuff'] == pytest.approx(dict(pq=0, sq=0, rq=0, n=1))
    assert result['All'] == pytest.approx(dict(pq=37.5, sq=37.5, rq=50, n=2))


def test_void_is_removed_from_the_union():
    # IoU = 3 / (4 + 3 - 3 - 1) = 1 (it would be 0.75 with VOID counted).
    result = synthetic([[1, 1, 1, 0]], [thing(1)], [[7, 7, 7, 7]], [thing(7)])
    assert result['All'] == pytest.approx(dict(pq=100, sq=100, rq=100, n=1))


def test_false_positive_needs_strictly_more_than_half_on_void():
    gt = [[1, 1, 1, 0]]
    # Segment 8: one pixel on the thing, one on VOID: exactly half, so a FP.
    # Segment 5 matches the thing with IoU 2 / (2 + 3 - 2) = 2/3.
    result = synthetic(gt, [thing(1)], [[5, 5, 8, 8]], [thing(5), stuff(8)])
    assert result['per_class'][THING]['pq'] == pytest.approx(100 * 2 / 3)
    assert result['per_class'][STUFF] == pytest.approx(dict(pq=0, sq=0, rq=0, tp=0, fp=1, fn=0))
    # Segment 8 wholly on VOID (one pixel): ignored.
    result = synthetic(gt, [thing(1)], [[5, 5, 5, 8]], [thing(5), stuff(8)])
    assert result['All'] == pytest.approx(dict(pq=100, sq=100, rq=100, n=1))


def test_crowd_is_never_matched_and_shields_only_its_category():
    gt_segments = [thing(1), thing(3, crowd=1)]
    result = synthetic([[1, 1, 3, 3]], gt_segments, [[5, 5, 8, 8]], [thing(5), thing(8)])
    assert result['All'] == pytest.approx(dict(pq=100, sq=100, rq=100, n=1))
    result = synthetic([[1, 1, 3, 3]], gt_segments, [[5, 5, 8, 8]], [thing(5), stuff(8)])
    assert result['All'] == pytest.approx(dict(pq=50, sq=50, rq=50, n=2))
    # A perfect copy of a crowd region is neither a TP nor a FP.
    result = synthetic([[3, 3]], gt_segments[1:], [[5, 5]], [thing(5)])
    assert result['per_class'] == {} and result['All']['n'] == 0


def test_overlap_with_every_crowd_of_the_category_counts():
    # Two thing crowds of one pixel each: 2 of the prediction's 3 pixels are on crowds.
    result = synthetic([[3, 4, 2]], [thing(3, crowd=1), thing(4, crowd=1), stuff(2)],
                       [[5, 5, 5]], [thing(5)])
    assert THING not in result['per_class']
    assert result['per_class'][STUFF]['fn'] == 1


def test_counts_are_summed_over_images_before_averaging():
    hit = pq_stat_single(np.array([[1]]), [thing(1)], np.array([[5]]), [thing(5)])
    miss = pq_stat_single(np.array([[1]]), [thing(1)], np.array([[0]]), [])
    total = hit + miss
    # TP 1 (IoU 1), FN 1: 1 / 1.5, not the mean of 100 and 0; the parts are unchanged.
    assert pq_average(total, CATEGORIES)['All']['pq'] == pytest.approx(100 / 1.5)
    assert (hit[THING].fn, miss[THING].tp) == (0, 0)
    assert isinstance(total, PQStat) and total[THING].fn == 1


@pytest.mark.parametrize('pred, segments, message', [
    ([[5, 6]], [thing(5)], r'ids \[6\] occur in the map'),
    ([[5, 5]], [thing(5), thing(6)], r'ids \[6\] are in segments_info'),
    ([[5, 5]], [thing(5), thing(5)], 'repeated'),
    ([[0, 0]], [thing(0)], 'VOID'),
    ([[5, 5, 5]], [thing(5)], r'\(1, 2\) but the prediction is \(1, 3\)'),
])
def test_inconsistent_prediction_is_rejected(pred, segments, message):
    with pytest.raises(PanopticFormatError, match=f'img.png: .*{message}'):
        pq_stat_single(np.array([[1, 1]]), [thing(1)], np.array(pred), segments, image='img.png')


def test_unknown_category_is_rejected():
    stat = pq_stat_single(np.array([[1]]), [dict(id=1, category_id=99)], np.array([[0]]), [])
    with pytest.raises(PanopticFormatError, match=r'\[99\]'):
        pq_average(stat, CATEGORIES)
