"""Mask2Former inference: semantic, panoptic and instance results from one prediction.

Shape letters: Q queries, K classes (K + 1 logits, the last is "no object"),
h x w predicted mask size, H x W output size, P picked queries, D detections.

Each result first picks its queries from the class logits alone, then reads
their masks; :class:`Mask2FormerInference` brings to output size only the
masks that some enabled result reads.

Host-independent: results are plain tensors and dicts; the mmdet and mmseg
adapters turn them into their data samples.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['resize_mask_logits', 'semantic_inference', 'Picked', 'panoptic_queries',
           'panoptic_segments', 'panoptic_inference', 'instance_queries',
           'instance_detections', 'instance_inference', 'Mask2FormerInference']


class Picked(NamedTuple):
    """Queries a result reads, with the class and score it gives each (all (P,))."""

    queries: Tensor
    labels: Tensor
    scores: Tensor


def resize_mask_logits(mask_logits: Tensor, pad_size: Sequence[int],
                       img_size: Optional[Sequence[int]] = None,
                       ori_size: Optional[Sequence[int]] = None) -> Tensor:
    """Bring 1/4-resolution mask logits back to image pixels: the one data path
    of both adapters.

    Upsamples to the padded network input, crops the padding away when
    ``img_size`` is given, then resizes to ``ori_size`` when given and
    different (bilinear, align_corners=False at each step). mmseg crops and
    resizes itself, so its adapter passes ``pad_size`` alone.

    Args:
        mask_logits: (Q, h, w).
        pad_size: (H_pad, W_pad) of the network input.
        img_size: (H_img, W_img) of the resized image inside the padding.
        ori_size: (H, W) of the original image.

    Returns:
        (Q, H, W) mask logits at ``ori_size``, else ``img_size``, else ``pad_size``.
    """
    if mask_logits.shape[0] == 0:  # interpolate rejects empty inputs
        out_size = next(size for size in (ori_size, img_size, pad_size) if size is not None)
        return mask_logits.new_zeros((0, *out_size[:2]))
    # Logits stored pixel-major (see layers.mask_product) would resize into a
    # pixel-major image, which the per-mask work that follows reads slowly.
    masks = F.interpolate(mask_logits.contiguous()[None], size=tuple(pad_size[:2]), mode='bilinear',
                          align_corners=False)
    if img_size is not None:
        masks = masks[..., :img_size[0], :img_size[1]]
    if ori_size is not None and tuple(ori_size[:2]) != tuple(masks.shape[-2:]):
        masks = F.interpolate(masks, size=tuple(ori_size[:2]), mode='bilinear',
                              align_corners=False)
    return masks[0]


def semantic_inference(cls_logits: Tensor, mask_logits: Tensor) -> Tensor:
    """Per-pixel class scores: class probabilities weighted by mask probabilities.

    Args:
        cls_logits: (Q, K + 1).
        mask_logits: (Q, H, W).

    Returns:
        (K, H, W) scores; their argmax is the semantic segmentation.
    """
    probs = cls_logits.softmax(-1)[:, :-1]
    return torch.einsum('qc,qhw->chw', probs, mask_logits.sigmoid())


def panoptic_queries(cls_logits: Tensor, object_mask_threshold: float) -> Picked:
    """The queries a panoptic result reads: those not predicting "no object"
    whose class score exceeds ``object_mask_threshold``.

    Args:
        cls_logits: (Q, K + 1).
        object_mask_threshold: Minimum class score of a kept query.
    """
    scores, labels = cls_logits.softmax(-1).max(-1)
    keep = (labels != cls_logits.shape[-1] - 1) & (scores > object_mask_threshold)
    return Picked(keep.nonzero()[:, 0], labels[keep], scores[keep])


def panoptic_segments(picked: Picked, mask_logits: Tensor, num_things: int,
                      overlap_threshold: float) -> Tuple[Tensor, List[dict]]:
    """Non-overlapping panoptic segments of the picked queries.

    Each pixel goes to the query maximising score x mask probability; a
    query's segment is those pixels where its own mask probability is >= 0.5.
    A segment keeping less than ``overlap_threshold`` of the query's own mask
    is dropped, and stuff segments of one class merge.

    Args:
        picked: P queries from :func:`panoptic_queries`.
        mask_logits: (P, H, W) their mask logits.
        num_things: Classes ``[0, num_things)`` are things, the rest stuff.
        overlap_threshold: Minimum kept fraction of a query's mask.

    Returns:
        segment_map (H, W) int64 with 0 for void and segment ids from 1, and
        one dict per segment: ``id``, ``label``, ``isthing``, ``score``.
    """
    scores, labels, mask_probs = picked.scores, picked.labels, mask_logits.sigmoid()
    segment_map = torch.zeros(mask_logits.shape[-2:], dtype=torch.long, device=mask_logits.device)
    segments: List[dict] = []
    if labels.numel() == 0:
        return segment_map, segments
    owner = (scores[:, None, None] * mask_probs).argmax(0)
    stuff_segment_of_label: Dict[int, dict] = {}
    for k in range(labels.numel()):
        label = int(labels[k])
        isthing = label < num_things
        owned = owner == k
        own_mask = mask_probs[k] >= 0.5
        owned_area, own_area = int(owned.sum()), int(own_mask.sum())
        segment = owned & own_mask
        if owned_area == 0 or own_area == 0 or not segment.any():
            continue
        if owned_area / own_area < overlap_threshold:
            continue
        if not isthing and label in stuff_segment_of_label:
            segment_map[segment] = stuff_segment_of_label[label]['id']
            continue
        info = dict(id=len(segments) + 1, label=label, isthing=isthing, score=float(scores[k]))
        segment_map[segment] = info['id']
        segments.append(info)
        if not isthing:
            stuff_segment_of_label[label] = info
    return segment_map, segments


def panoptic_inference(cls_logits: Tensor, mask_logits: Tensor, num_things: int,
                       object_mask_threshold: float,
                       overlap_threshold: float) -> Tuple[Tensor, List[dict]]:
    """:func:`panoptic_segments` of the :func:`panoptic_queries`.

    Args:
        cls_logits: (Q, K + 1).
        mask_logits: (Q, H, W).
        num_things, object_mask_threshold, overlap_threshold: As there.
    """
    picked = panoptic_queries(cls_logits, object_mask_threshold)
    return panoptic_segments(picked, mask_logits[picked.queries], num_things, overlap_threshold)


def instance_queries(cls_logits: Tensor, max_per_image: int,
                     num_things: Optional[int] = None) -> Picked:
    """The top-scoring (query, class) pairs, a query possibly more than once.

    Args:
        cls_logits: (Q, K + 1).
        max_per_image: Pairs kept before the things filter.
        num_things: When set, only classes ``[0, num_things)`` are kept (a
            panoptic-trained model's stuff classes are not instances).
    """
    num_classes = cls_logits.shape[-1] - 1
    probs = cls_logits.softmax(-1)[:, :-1].flatten()
    top_scores, top_idx = probs.topk(min(max_per_image, probs.numel()))
    labels = top_idx % num_classes
    queries = torch.div(top_idx, num_classes, rounding_mode='floor')
    if num_things is not None:
        is_thing = labels < num_things
        top_scores, labels, queries = top_scores[is_thing], labels[is_thing], queries[is_thing]
    return Picked(queries, labels, top_scores)


def instance_detections(picked: Picked, mask_logits: Tensor) -> Dict[str, Tensor]:
    """Instance detections of the picked pairs.

    Args:
        picked: D pairs from :func:`instance_queries`.
        mask_logits: (D, H, W) the mask logits of their queries.

    Returns:
        ``labels`` (D,) long, ``scores`` (D,) (class probability x mean mask
        probability inside the binary mask) and ``masks`` (D, H, W) bool,
        sorted by decreasing score.
    """
    masks = mask_logits > 0
    mask_scores = ((mask_logits.sigmoid() * masks).flatten(1).sum(1)
                   / (masks.flatten(1).sum(1) + 1e-6))
    scores = picked.scores * mask_scores
    order = scores.argsort(descending=True)
    return dict(labels=picked.labels[order], scores=scores[order], masks=masks[order])


def instance_inference(cls_logits: Tensor, mask_logits: Tensor, max_per_image: int,
                       num_things: Optional[int] = None) -> Dict[str, Tensor]:
    """:func:`instance_detections` of the :func:`instance_queries`.

    Args:
        cls_logits: (Q, K + 1).
        mask_logits: (Q, H, W).
        max_per_image, num_things: As there.
    """
    picked = instance_queries(cls_logits, max_per_image, num_things)
    return instance_detections(picked, mask_logits[picked.queries])


@dataclass
class Mask2FormerInference:
    """Switchable semantic / panoptic / instance inference from one prediction;
    the one place that holds the inference defaults.

    Args:
        num_classes: K.
        num_things_classes: Thing classes ``[0, num_things_classes)``;
            defaults to K (instance-only training).
        semantic_on: Produce semantic scores.
        panoptic_on: Produce panoptic segments.
        instance_on: Produce instance detections.
        object_mask_threshold: See :func:`panoptic_inference`.
        overlap_threshold: See :func:`panoptic_inference` (an area ratio, which
            mmdet's test_cfg calls ``iou_thr``).
        max_per_image: See :func:`instance_inference`.
    """

    num_classes: int
    num_things_classes: Optional[int] = None
    semantic_on: bool = False
    panoptic_on: bool = True
    instance_on: bool = False
    object_mask_threshold: float = 0.8
    overlap_threshold: float = 0.8
    max_per_image: int = 100

    def __post_init__(self) -> None:
        if self.num_things_classes is None:
            self.num_things_classes = self.num_classes
        if not (self.semantic_on or self.panoptic_on or self.instance_on):
            raise ValueError('Mask2FormerInference: set at least one of semantic_on, '
                             'panoptic_on, instance_on')

    def __call__(self, cls_logits: Tensor, mask_logits: Tensor,
                 resize: Optional[Callable[[Tensor], Tensor]] = None) -> dict:
        """Run the enabled inferences on one image.

        Args:
            cls_logits: (Q, K + 1).
            mask_logits: (Q, h, w).
            resize: Brings (n, h, w) mask logits to output size (H, W); by
                default they already are. Only the masks of queries that an
                enabled result reads are resized (all of them for semantic).

        Returns:
            Any of ``semantic`` ((K, H, W) scores), ``panoptic``
            ((segment_map, segments)) and ``instance`` (dict of tensors).
        """
        picks = {}
        if self.panoptic_on:
            picks['panoptic'] = panoptic_queries(cls_logits, self.object_mask_threshold)
        if self.instance_on:
            # Stuff classes are not instances when the model was trained panoptic.
            things = self.num_things_classes if self.num_things_classes < self.num_classes else None
            picks['instance'] = instance_queries(cls_logits, self.max_per_image, things)
        resize = resize or (lambda masks: masks)
        results = {}
        if self.semantic_on:
            masks = resize(mask_logits)
            results['semantic'] = semantic_inference(cls_logits, masks)
            rows = {name: picked.queries for name, picked in picks.items()}
        else:
            needed = torch.unique(torch.cat([p.queries for p in picks.values()]))  # sorted
            masks = resize(mask_logits[needed])
            rows = {name: torch.searchsorted(needed, picked.queries)
                    for name, picked in picks.items()}
        if self.panoptic_on:
            results['panoptic'] = panoptic_segments(
                picks['panoptic'], masks[rows['panoptic']], self.num_things_classes,
                self.overlap_threshold)
        if self.instance_on:
            results['instance'] = instance_detections(picks['instance'],
                                                      masks[rows['instance']])
        return results
