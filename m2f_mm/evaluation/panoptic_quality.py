"""Panoptic quality (PQ) of COCO panoptic segmentations, without panopticapi.

Segments are given as (H, W) id maps (see :mod:`m2f_mm.datasets.panoptic_png`,
0 is VOID) plus ``segments_info`` lists. PQ follows COCO's definition (Kirillov et al., *Panoptic Segmentation*, and
panopticapi's ``pq_compute``), per image:

- IoU of a ground-truth and a predicted segment is
  ``intersection / (pred_area + gt_area - intersection - pred_on_void)``:
  predicted pixels on VOID do not count against a prediction;
- a non-crowd ground-truth segment and a prediction of the same category
  match when their IoU is strictly above 0.5 (so matches are unique);
  crowd segments are never matched;
- an unmatched non-crowd ground-truth segment is a false negative (FN);
- an unmatched prediction is a false positive (FP) unless more than half of
  it lies on VOID plus crowd regions of its own category.

Counts are summed over images per category, then per category
``PQ = sum(IoU of TP) / (TP + FP / 2 + FN / 2)``, ``SQ = sum(IoU) / TP``,
``RQ = TP / (TP + FP / 2 + FN / 2)``, and each is averaged over the categories
with ``TP + FP + FN > 0`` (All, Things, Stuff).

Everything here is numpy only.
"""
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, Mapping

import numpy as np

from m2f_mm.datasets.panoptic_png import ID_LIMIT, VOID, PanopticFormatError, check_id_range

__all__ = ['CategoryStat', 'PQStat', 'pq_stat_single', 'pq_average']

@dataclass
class CategoryStat:
    """Matching counts of one category.

    Attributes:
        tp: True positives (matched pairs).
        fp: False positives.
        fn: False negatives.
        iou: Sum of the IoUs of the true positives.
    """
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou: float = 0.0

    def __add__(self, other: 'CategoryStat') -> 'CategoryStat':
        return CategoryStat(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn,
                            self.iou + other.iou)


@dataclass
class PQStat:
    """Per-category matching counts; ``a + b`` sums them (over images or ranks).

    Attributes:
        per_category: COCO category id -> :class:`CategoryStat`.
    """
    per_category: Dict[int, CategoryStat] = field(default_factory=dict)

    def __getitem__(self, category_id: int) -> CategoryStat:
        return self.per_category.setdefault(category_id, CategoryStat())

    def __add__(self, other: 'PQStat') -> 'PQStat':
        total = PQStat({k: replace(v) for k, v in self.per_category.items()})
        for category_id, stat in other.per_category.items():
            total.per_category[category_id] = total[category_id] + stat
        return total


def pq_stat_single(gt_ids: np.ndarray, gt_segments: Iterable[Mapping],
                   pred_ids: np.ndarray, pred_segments: Iterable[Mapping],
                   image: str = 'image') -> PQStat:
    """Match one image's predicted segments to its ground truth.

    Areas come from the id maps, not from any ``area`` key. Where an image has
    several crowd segments of one category, a prediction's overlap with all of
    them counts (panopticapi looks at only one of them).

    Args:
        gt_ids: (H, W) ground-truth segment ids, VOID = 0.
        gt_segments: Dicts with ``id``, ``category_id`` and optionally
            ``iscrowd`` (default 0), e.g. COCO's ``segments_info``. As in
            panopticapi, pixels of an unlisted id belong to no segment but,
            unlike VOID, count in a prediction's union.
        pred_ids: (H, W) predicted segment ids, VOID = 0.
        pred_segments: Dicts with ``id`` and ``category_id``; exactly the
            non-VOID ids of ``pred_ids``.
        image: Names the image in error messages (e.g. its PNG path).

    Returns:
        The image's :class:`PQStat`.

    Raises:
        PanopticFormatError: Mismatched shapes, ids out of range, or
            ``pred_segments`` disagreeing with ``pred_ids``.
    """
    if gt_ids.shape != pred_ids.shape:
        raise PanopticFormatError(f'{image}: ground truth is {gt_ids.shape} '
                                  f'but the prediction is {pred_ids.shape}')
    check_id_range(gt_ids, f'{image}: ground-truth map')
    check_id_range(pred_ids, f'{image}: predicted map')
    gt_segs = _index_segments(gt_segments, f'{image}: ground-truth segments_info')
    pred_segs = _index_segments(pred_segments, f'{image}: predicted segments_info')

    ids, counts = np.unique(pred_ids, return_counts=True)
    pred_area = {int(i): int(n) for i, n in zip(ids, counts) if i != VOID}
    unlisted = sorted(set(pred_area) - set(pred_segs))
    if unlisted:
        raise PanopticFormatError(f'{image}: predicted ids {unlisted} occur in the map '
                                  'but not in segments_info')
    absent = sorted(set(pred_segs) - set(pred_area))
    if absent:
        raise PanopticFormatError(f'{image}: predicted ids {absent} are in segments_info '
                                  'but do not occur in the map')
    ids, counts = np.unique(gt_ids, return_counts=True)
    gt_area = {int(i): int(n) for i, n in zip(ids, counts)}
    codes, counts = np.unique(gt_ids.astype(np.int64) * ID_LIMIT + pred_ids.astype(np.int64),
                               return_counts=True)
    overlap = {(int(c) // ID_LIMIT, int(c) % ID_LIMIT): int(n) for c, n in zip(codes, counts)}

    stat = PQStat()
    gt_matched, pred_matched = set(), set()
    for (gt_id, pred_id), inter in overlap.items():
        gt_seg, pred_seg = gt_segs.get(gt_id), pred_segs.get(pred_id)
        if (gt_seg is None or pred_seg is None or gt_seg['iscrowd']
                or gt_seg['category_id'] != pred_seg['category_id']):
            continue
        union = (pred_area[pred_id] + gt_area[gt_id] - inter
                 - overlap.get((VOID, pred_id), 0))
        iou = inter / union
        if iou > 0.5:
            stat[gt_seg['category_id']].tp += 1
            stat[gt_seg['category_id']].iou += iou
            gt_matched.add(gt_id)
            pred_matched.add(pred_id)

    crowd_ids = defaultdict(list)
    for gt_id, seg in gt_segs.items():
        if seg['iscrowd']:
            crowd_ids[seg['category_id']].append(gt_id)
        elif gt_id not in gt_matched:
            stat[seg['category_id']].fn += 1
    for pred_id, seg in pred_segs.items():
        if pred_id in pred_matched:
            continue
        ignored = overlap.get((VOID, pred_id), 0) + sum(
            overlap.get((gt_id, pred_id), 0) for gt_id in crowd_ids[seg['category_id']])
        if ignored / pred_area[pred_id] <= 0.5:
            stat[seg['category_id']].fp += 1
    return stat


def pq_average(stat: PQStat, categories: Mapping[int, bool]) -> dict:
    """PQ, SQ and RQ per category and averaged, in percent.

    Args:
        stat: Counts summed over the evaluated images.
        categories: COCO category id -> whether it is a thing class; must
            cover every category in ``stat``.

    Returns:
        ``dict(All=..., Things=..., Stuff=..., per_class=...)``. The first
        three are ``dict(pq, sq, rq, n)``, averages over the ``n`` categories
        of the group with ``TP + FP + FN > 0`` (all 0.0 when ``n == 0``).
        ``per_class`` maps each such category id to ``dict(pq, sq, rq, tp,
        fp, fn)``.
    """
    unknown = sorted(set(stat.per_category) - set(categories))
    if unknown:
        raise PanopticFormatError(f'segments have category ids {unknown}, '
                                  'which are not among the categories')
    per_class = {}
    for category_id, s in stat.per_category.items():
        if s.tp + s.fp + s.fn == 0:
            continue
        weighted = s.tp + 0.5 * s.fp + 0.5 * s.fn
        per_class[category_id] = dict(pq=100 * s.iou / weighted,
                                      sq=100 * s.iou / s.tp if s.tp else 0.0,
                                      rq=100 * s.tp / weighted, tp=s.tp, fp=s.fp, fn=s.fn)

    def average(category_ids: list) -> dict:
        n = len(category_ids)
        means = {key: sum(per_class[c][key] for c in category_ids) / n if n else 0.0
                 for key in ('pq', 'sq', 'rq')}
        return dict(means, n=n)

    things = [c for c in per_class if categories[c]]
    stuff = [c for c in per_class if not categories[c]]
    return dict(All=average(list(per_class)), Things=average(things), Stuff=average(stuff),
                per_class=per_class)


def _index_segments(segments: Iterable[Mapping], what: str) -> Dict[int, dict]:
    """Map id -> dict(category_id, iscrowd), rejecting VOID and repeated ids."""
    indexed = {}
    for seg in segments:
        seg_id = int(seg['id'])
        if seg_id == VOID or seg_id in indexed:
            raise PanopticFormatError(f'{what}: segment id {seg_id} is '
                                      f'{"VOID" if seg_id == VOID else "repeated"}')
        indexed[seg_id] = dict(category_id=int(seg['category_id']),
                               iscrowd=int(seg.get('iscrowd', 0)))
    return indexed
