"""One-to-one matching of predicted (class, mask) pairs to an image's targets.

Shape letters: B images, Q queries, K classes (K + 1 logits, the last is "no
object"), M target masks of the image, H x W target mask size, h x w predicted
mask size, T sampled points.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from m2f_mm.registry import TASK_UTILS
from .mask_losses import check_mask_loss, pairwise_dice_loss, pairwise_mask_loss
from .point_sample import point_sample

__all__ = ['HungarianMatcher']


@TASK_UTILS.register_module()
class HungarianMatcher:
    """Minimum-cost bipartite matching with class, mask and dice costs.

    By default the mask costs compare each prediction with each target on the
    same T points, drawn uniformly at random once per image: cheap at any mask
    resolution and independent of the prediction and target sizes. With
    ``point_sampled=False`` they compare every pixel instead, the targets
    resized (nearest) to the prediction size, as MaskFormer did.

    The class cost is minus the softmax probability of the target class, as in
    the reference: the criterion's per-class ``class_weight`` does not enter it.

    Args:
        cost_class: Weight of the class cost.
        cost_mask: Weight of the mask cost, the mean ``mask_cost`` loss.
        cost_dice: Weight of the dice cost (+1 smoothing).
        num_points: T, points per image when ``point_sampled``.
        mask_cost: ``'bce'`` (Mask2Former) or ``'focal'`` (MaskFormer).
        point_sampled: Compare masks on T random points; False compares full masks.

    :class:`~m2f_mm.models.Mask2FormerCriterion` fills in the first five from
    its loss settings unless its ``matcher`` config sets them.
    """

    def __init__(self, cost_class: float, cost_mask: float, cost_dice: float,
                 num_points: int, mask_cost: str = 'bce', point_sampled: bool = True) -> None:
        check_mask_loss(mask_cost, 'criterion.matcher.mask_cost')
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points
        self.mask_cost = mask_cost
        self.point_sampled = point_sampled

    def cost_matrix(self, cls_logits: Tensor, point_logits: Tensor, gt_labels: Tensor,
                    point_targets: Tensor) -> Tensor:
        """Weighted matching cost of every (query, target) pair.

        Args:
            cls_logits: (Q, K+1) class logits.
            point_logits: (Q, T) mask logits at the compared points.
            gt_labels: (M,) long target classes in ``[0, K)``.
            point_targets: (M, T) target mask values in ``[0, 1]`` at the same points.

        Returns:
            (Q, M) float32 cost matrix.
        """
        # fp32 so that half-precision predictions cannot tip a near-tie.
        point_logits = point_logits.float()
        point_targets = point_targets.float()
        class_cost = -cls_logits.float().softmax(-1)[:, gt_labels]  # (Q, M)
        mask_cost = pairwise_mask_loss(point_logits, point_targets, self.mask_cost)
        dice_cost = pairwise_dice_loss(point_logits, point_targets)
        return (self.cost_class * class_cost + self.cost_mask * mask_cost
                + self.cost_dice * dice_cost)

    @torch.no_grad()
    def match(self, cls_logits: Tensor, mask_logits: Tensor, gt_labels: Tensor,
              gt_masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Match one image's queries to its targets.

        Args:
            cls_logits: (Q, K+1) class logits.
            mask_logits: (Q, h, w) mask logits.
            gt_labels: (M,) long target classes in ``[0, K)``.
            gt_masks: (M, H, W) binary target masks (bool, uint8 or float).

        Returns:
            ``(query_idx, target_idx)``, each (min(Q, M),) long on
            ``cls_logits.device``, sorted by query index; query ``query_idx[i]``
            is matched to target ``target_idx[i]``.

        Raises:
            ValueError: If the cost matrix holds NaN or inf (e.g. diverged logits).
        """
        target = dict(labels=gt_labels, masks=gt_masks)
        return self.match_stages([cls_logits[None]], [mask_logits[None]], [target])[0][0]

    @torch.no_grad()
    def match_stages(self, cls_preds: Sequence[Tensor], mask_preds: Sequence[Tensor],
                     targets: Sequence[Dict[str, Tensor]]) -> List[List[Tuple[Tensor, Tensor]]]:
        """Match every image of every prediction stage, with one device-to-host copy.

        Each (stage, image) pair draws its own T points, stage by stage and image
        by image. All cost matrices are then copied to the host together, and all
        matches back to the device together, so a training step waits for the
        device twice instead of twice per stage and image.

        Args:
            cls_preds: Per stage, (B, Q, K+1) class logits.
            mask_preds: Per stage, (B, Q, h, w) mask logits.
            targets: Per image, ``dict(labels=(M,) long, masks=(M, H, W))``.

        Returns:
            ``matches[stage][image] = (query_idx, target_idx)`` as in :meth:`match`.

        Raises:
            ValueError: If a cost matrix holds NaN or inf (e.g. diverged logits).
        """
        device = cls_preds[0].device
        costs = [self._image_cost(cls_logits[b], mask_logits[b], target)
                 for cls_logits, mask_logits in zip(cls_preds, mask_preds)
                 for b, target in enumerate(targets)]
        flat = torch.cat([c.flatten() for c in costs]).cpu().numpy()
        if not np.isfinite(flat).all():
            raise ValueError(
                'HungarianMatcher: the matching cost matrix holds NaN or inf; the '
                'class or mask logits are probably not finite (diverged training?).')
        assignments, start = [], 0
        for cost in costs:
            # scipy returns the row (query) indices already in increasing order.
            assignments.append(linear_sum_assignment(
                flat[start:start + cost.numel()].reshape(cost.shape)))
            start += cost.numel()
        indices = torch.from_numpy(np.concatenate(
            [np.concatenate(pair) for pair in assignments]).astype(np.int64)).to(device)
        matches, start = [], 0
        for query_idx, _ in assignments:
            n = len(query_idx)
            matches.append((indices[start:start + n], indices[start + n:start + 2 * n]))
            start += 2 * n
        b = len(targets)
        return [matches[i:i + b] for i in range(0, len(matches), b)]

    def _image_cost(self, cls_logits: Tensor, mask_logits: Tensor,
                    target: Dict[str, Tensor]) -> Tensor:
        """(Q, M) cost of one image, on T fresh uniform points or every pixel (M may be 0)."""
        gt_labels, gt_masks = target['labels'], target['masks']
        num_queries, num_targets = mask_logits.shape[0], gt_labels.shape[0]
        if num_targets == 0:
            return cls_logits.new_zeros(num_queries, 0, dtype=torch.float32)
        if not self.point_sampled:
            resized = F.interpolate(gt_masks.unsqueeze(1).float(), size=mask_logits.shape[-2:],
                                    mode='nearest')
            return self.cost_matrix(cls_logits, mask_logits.flatten(1), gt_labels,
                                    resized.flatten(1))
        points = torch.rand((1, self.num_points, 2), device=cls_logits.device)
        # One point set for all masks: read them as the channels of one map.
        point_logits = point_sample(mask_logits.unsqueeze(0), points)[0]  # (Q, T)
        point_targets = point_sample(gt_masks.unsqueeze(0).float(), points)[0]  # (M, T)
        return self.cost_matrix(cls_logits, point_logits, gt_labels, point_targets)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(cost_class={self.cost_class}, '
                f'cost_mask={self.cost_mask}, cost_dice={self.cost_dice}, '
                f'num_points={self.num_points}, mask_cost={self.mask_cost!r}, '
                f'point_sampled={self.point_sampled})')
