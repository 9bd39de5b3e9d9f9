"""One-to-one matching of predicted (class, mask) pairs to an image's targets.

Shape letters: Q queries, K classes (K + 1 logits, the last is "no object"),
M target masks of the image, H x W target mask size, h x w predicted mask size,
T sampled points.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from m2f_mm.registry import TASK_UTILS
from .point_sample import point_sample

__all__ = ['HungarianMatcher']


@TASK_UTILS.register_module()
class HungarianMatcher:
    """Minimum-cost bipartite matching with class, mask BCE and mask dice costs.

    The mask costs compare each prediction with each target on the same T points,
    drawn uniformly at random once per image: cheap at any mask resolution and
    independent of the prediction and target sizes.

    Args:
        cost_class: Weight of the class cost, minus the target class's probability.
        cost_mask: Weight of the mean binary cross-entropy over the points.
        cost_dice: Weight of the dice cost (+1 smoothing) over the points.
        num_points: T, points per image (12544 = 112 x 112 in the paper).
    """

    def __init__(self, cost_class: float = 2.0, cost_mask: float = 5.0,
                 cost_dice: float = 5.0, num_points: int = 12544) -> None:
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points

    def cost_matrix(self, cls_logits: Tensor, point_logits: Tensor, gt_labels: Tensor,
                    point_targets: Tensor) -> Tensor:
        """Weighted matching cost of every (query, target) pair.

        Args:
            cls_logits: (Q, K+1) class logits.
            point_logits: (Q, T) mask logits at the sampled points.
            gt_labels: (M,) long target classes in ``[0, K)``.
            point_targets: (M, T) target mask values in ``[0, 1]`` at the same points.

        Returns:
            (Q, M) float32 cost matrix.
        """
        # fp32 so that half-precision predictions cannot tip a near-tie.
        point_logits = point_logits.float()
        point_targets = point_targets.float()
        num_points = point_logits.shape[1]

        class_cost = -cls_logits.float().softmax(-1)[:, gt_labels]  # (Q, M)

        # BCE(x, t) = t * softplus(-x) + (1 - t) * softplus(x), so the pairwise mean
        # over points is two matrix products instead of a Q x M loop.
        loss_if_fg = F.softplus(-point_logits)  # (Q, T)
        loss_if_bg = F.softplus(point_logits)
        bce_cost = (loss_if_fg @ point_targets.T + loss_if_bg @ (1 - point_targets).T) / num_points

        probs = point_logits.sigmoid()
        overlap = 2 * probs @ point_targets.T  # (Q, M)
        total = probs.sum(-1)[:, None] + point_targets.sum(-1)[None, :]
        dice_cost = 1 - (overlap + 1) / (total + 1)

        return (self.cost_class * class_cost + self.cost_mask * bce_cost
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
        device = cls_logits.device
        num_targets = gt_labels.shape[0]
        if num_targets == 0:
            empty = torch.empty(0, dtype=torch.long, device=device)
            return empty, empty.clone()

        num_queries = mask_logits.shape[0]
        points = torch.rand((1, self.num_points, 2), device=device)
        point_logits = point_sample(mask_logits.unsqueeze(1),
                                    points.expand(num_queries, -1, -1)).squeeze(1)
        point_targets = point_sample(gt_masks.unsqueeze(1).float(),
                                     points.expand(num_targets, -1, -1)).squeeze(1)
        cost = self.cost_matrix(cls_logits, point_logits, gt_labels, point_targets)
        if not torch.isfinite(cost).all():
            raise ValueError(
                'HungarianMatcher: the matching cost matrix holds NaN or inf; the '
                'class or mask logits are probably not finite (diverged training?).')

        # scipy returns the row (query) indices already in increasing order.
        query_idx, target_idx = linear_sum_assignment(cost.cpu().numpy())
        return (torch.as_tensor(query_idx, dtype=torch.long, device=device),
                torch.as_tensor(target_idx, dtype=torch.long, device=device))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(cost_class={self.cost_class}, '
                f'cost_mask={self.cost_mask}, cost_dice={self.cost_dice}, '
                f'num_points={self.num_points})')
