"""Mask2Former's training loss: set matching, then class and mask losses per prediction.

Shape letters: B batch, Q queries, K classes (K + 1 logits, the last is
"no object"), M target masks of an image, H x W target mask size (the padded
input), h x w predicted mask size (1/4 of the padded input), T sampled points,
P matched (query, target) pairs in the batch.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine import dist
from torch import Tensor, nn

from m2f_mm.registry import MODELS, TASK_UTILS, build_in_plugin_scope
from .mask_losses import check_mask_loss, dice_loss, mask_loss
from .layers.mask_product import mask_rows
from .point_sample import point_sample, point_sample_rows, sample_uncertain_points

__all__ = ['Mask2FormerCriterion']

Matches = List[Tuple[Tensor, Tensor]]


@MODELS.register_module()
class Mask2FormerCriterion(nn.Module):
    """Hungarian-matched class, mask (BCE or focal) and dice losses with deep supervision.

    Each prediction of the list (one per decoder stage) is matched to the targets
    on its own and gets the full loss. The class loss covers every query
    (unmatched ones learn "no object"); the mask losses cover the matched pairs
    only and are normalised by the number of target masks (averaged over
    processes, at least 1).

    Args:
        num_classes: K, classes without "no object".
        matcher: Config of the matcher (HungarianMatcher unless it gives a
            ``type``), built in m2f_mm's TASK_UTILS scope. Its
            cost weights, mask cost and number of points default to this loss's
            own (``cost_class=cls_loss_weight``, ``cost_mask=mask_loss_weight``,
            ``cost_dice=dice_loss_weight``, ``mask_cost=mask_loss``,
            ``num_points``), as in the reference; set them here only to match on
            other terms than the loss. ``matcher.point_sampled=False`` matches on
            full masks.
        cls_loss_weight: Weight of the cross-entropy class loss.
        mask_loss_weight: Weight of the per-pixel mask loss.
        dice_loss_weight: Weight of the dice mask loss.
        no_object_weight: Weight of the "no object" class inside the cross-entropy.
        class_weight: Per-class weights inside the cross-entropy, K + 1 of them,
            "no object" last (which must equal ``no_object_weight``); None
            weighs every class 1.
        mask_loss: ``'bce'`` (Mask2Former) or ``'focal'`` (MaskFormer's sigmoid
            focal loss).
        num_points: T, points per matched mask for point-sampled losses
            (12544 = 112 x 112 in the paper).
        oversample_ratio: Candidates per point for importance sampling.
        importance_sample_ratio: Fraction of the T points chosen by uncertainty;
            0 samples uniformly.
        point_sampled: If False, the mask losses use every pixel of the targets
            instead (matched logits upsampled to H x W): MaskFormer's loss, and
            the paper's baseline for its memory comparison.
    """

    def __init__(self, num_classes: int, matcher: Optional[dict] = None,
                 cls_loss_weight: float = 2.0, mask_loss_weight: float = 5.0,
                 dice_loss_weight: float = 5.0, no_object_weight: float = 0.1,
                 class_weight: Optional[Sequence[float]] = None, mask_loss: str = 'bce',
                 num_points: int = 12544, oversample_ratio: float = 3.0,
                 importance_sample_ratio: float = 0.75, point_sampled: bool = True) -> None:
        super().__init__()
        check_mask_loss(mask_loss, 'criterion.mask_loss')
        self.num_classes = num_classes
        self.matcher = build_in_plugin_scope(
            dict(dict(type='HungarianMatcher', cost_class=cls_loss_weight,
                      cost_mask=mask_loss_weight, cost_dice=dice_loss_weight,
                      mask_cost=mask_loss, num_points=num_points),
                 **(matcher or {})), TASK_UTILS, where='criterion.matcher')
        self.cls_loss_weight, self.mask_loss_weight, self.dice_loss_weight = (
            cls_loss_weight, mask_loss_weight, dice_loss_weight)
        self.mask_loss = mask_loss
        # PointRend's importance sampling of the points the mask losses read.
        self.num_points, self.oversample_ratio, self.importance_sample_ratio = (
            num_points, oversample_ratio, importance_sample_ratio)
        self.point_sampled = point_sampled
        self.register_buffer('empty_weight',
                             _class_weights(num_classes, no_object_weight, class_weight))

    def forward(self, cls_preds: Sequence[Tensor], mask_preds: Sequence[Tensor],
                targets: Sequence[Dict[str, Tensor]]) -> Dict[str, Tensor]:
        """Compute the losses of every prediction.

        Args:
            cls_preds: Per decoder stage, (B, Q, K+1) class logits; the last entry
                is the final prediction.
            mask_preds: Per decoder stage, (B, Q, h, w) mask logits.
            targets: Per image, ``dict(labels=(M,) long, masks=(M, H, W))`` with
                bool, uint8 or float masks; H x W is shared by the batch.

        Returns:
            ``loss_cls``, ``loss_mask``, ``loss_dice`` for the last prediction and
            ``d{i}.loss_cls``, ``d{i}.loss_mask``, ``d{i}.loss_dice`` for
            prediction i before it; each a scalar.

        Raises:
            ValueError: If the prediction lists are empty or of unequal length, or
                the batch size differs from the number of targets.
        """
        if len(cls_preds) == 0 or len(cls_preds) != len(mask_preds):
            raise ValueError('cls_preds and mask_preds must be non-empty lists of equal '
                             f'length, got {len(cls_preds)} and {len(mask_preds)}')
        if cls_preds[-1].shape[0] != len(targets):
            raise ValueError(f'batch size {cls_preds[-1].shape[0]} does not match '
                             f'{len(targets)} targets')
        num_masks = self._num_masks(targets, cls_preds[-1].device)
        # Converted once: the matcher and the losses of every stage read them.
        targets = [dict(target, masks=target['masks'].float()) for target in targets]
        last = len(cls_preds) - 1
        losses = {}
        all_matches = self.matcher.match_stages(cls_preds, mask_preds, targets)
        for i, (cls_logits, mask_logits, matches) in enumerate(
                zip(cls_preds, mask_preds, all_matches)):
            prefix = '' if i == last else f'd{i}.'
            losses[prefix + 'loss_cls'] = self._class_loss(cls_logits, targets, matches)
            loss_mask, loss_dice = self._mask_losses(mask_logits, targets, matches, num_masks)
            losses[prefix + 'loss_mask'] = loss_mask
            losses[prefix + 'loss_dice'] = loss_dice
        return losses

    @staticmethod
    def _num_masks(targets: Sequence[Dict[str, Tensor]], device: torch.device) -> Tensor:
        """Target masks per process, averaged over processes, at least 1; a scalar."""
        num_masks = torch.tensor(float(sum(len(t['labels']) for t in targets)),
                                 device=device)
        if dist.get_world_size() > 1:
            dist.all_reduce(num_masks, op='mean')
        return num_masks.clamp(min=1.0)

    def _class_loss(self, cls_logits: Tensor, targets: Sequence[Dict[str, Tensor]],
                    matches: Matches) -> Tensor:
        """Weighted cross-entropy over all B x Q queries; unmatched ones target K."""
        labels = torch.full(cls_logits.shape[:2], self.num_classes, dtype=torch.long,
                            device=cls_logits.device)
        for b, (query_idx, target_idx) in enumerate(matches):
            labels[b, query_idx] = targets[b]['labels'][target_idx]
        # 'mean' with class weights divides by the summed weights of the targets.
        loss = F.cross_entropy(cls_logits.flatten(0, 1).float(), labels.flatten(),
                               weight=self.empty_weight.float())
        return self.cls_loss_weight * loss

    def _mask_losses(self, mask_logits: Tensor, targets: Sequence[Dict[str, Tensor]],
                     matches: Matches, num_masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Weighted BCE and dice of the matched masks, each summed over masks / num_masks."""
        batch_idx = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(matches)])
        query_idx = torch.cat([q for q, _ in matches])
        matched_logits = mask_rows(mask_logits, batch_idx, query_idx).float()  # (P, h, w)
        if matched_logits.shape[0] == 0:
            # The sum of an empty tensor is exactly 0 yet keeps mask_logits in the
            # graph, so backward still reaches every parameter.
            zero = matched_logits.sum()
            return zero, zero
        if self.point_sampled:
            with torch.no_grad():
                points = sample_uncertain_points(matched_logits.unsqueeze(1), self.num_points,
                                                 self.oversample_ratio,
                                                 self.importance_sample_ratio)
                per_image = points.split([len(t) for _, t in matches])
                values = torch.cat([point_sample_rows(target['masks'], t, image_points)
                                    for target, (_, t), image_points
                                    in zip(targets, matches, per_image)])  # (P, T)
            logits = point_sample(matched_logits.unsqueeze(1), points).squeeze(1)  # (P, T)
        else:
            matched_targets = torch.cat([target['masks'][t] for target, (_, t)
                                         in zip(targets, matches)])  # (P, H, W)
            logits = F.interpolate(matched_logits.unsqueeze(1), size=matched_targets.shape[-2:],
                                   mode='bilinear', align_corners=False).flatten(1)  # (P, HW)
            values = matched_targets.flatten(1)

        per_mask = mask_loss(logits, values, self.mask_loss).mean(1)
        return (self.mask_loss_weight * per_mask.sum() / num_masks,
                self.dice_loss_weight * dice_loss(logits, values).sum() / num_masks)

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, matcher={self.matcher!r}, '
                f'weights(class/mask/dice)={self.cls_loss_weight}/{self.mask_loss_weight}/'
                f'{self.dice_loss_weight}, mask_loss={self.mask_loss!r}, '
                f'num_points={self.num_points}, point_sampled={self.point_sampled}')


def _class_weights(num_classes: int, no_object_weight: float,
                   class_weight: Optional[Sequence[float]]) -> Tensor:
    """The cross-entropy's (K + 1,) class weights, checked against the class count."""
    if class_weight is None:
        weights = torch.ones(num_classes + 1)
        weights[-1] = no_object_weight
        return weights
    if len(class_weight) != num_classes + 1:
        raise ValueError(f'criterion.class_weight has {len(class_weight)} entries; the head has '
                         f'{num_classes} classes, so it needs {num_classes + 1} ("no object" '
                         'last)')
    if class_weight[-1] != no_object_weight:
        raise ValueError(f'criterion.class_weight[-1]={class_weight[-1]} is the "no object" '
                         f'weight but criterion.no_object_weight={no_object_weight}; set them '
                         'equal')
    return torch.tensor([float(w) for w in class_weight])
