"""Mask losses per matched pair, and their pairwise forms for the matching cost.

Shape letters: P matched pairs, Q queries, M targets, T points (sampled points,
or every pixel of a full mask). Logits are raw mask logits; targets lie in
[0, 1] (binary on full masks, fractional where a point falls between pixels).
"""
import torch.nn.functional as F
from torch import Tensor

__all__ = ['MASK_LOSSES', 'check_mask_loss', 'mask_loss', 'pairwise_mask_loss', 'dice_loss',
           'pairwise_dice_loss']

# MaskFormer's sigmoid focal loss (RetinaNet's alpha and gamma).
FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
MASK_LOSSES = ('bce', 'focal')


def check_mask_loss(kind: str, where: str) -> None:
    """Raise a one-line ValueError naming the config key ``where`` for an unknown loss."""
    if kind not in MASK_LOSSES:
        raise ValueError(f'{where}={kind!r} is not a mask loss; choose one of {MASK_LOSSES}')


def mask_loss(logits: Tensor, targets: Tensor, kind: str) -> Tensor:
    """Per-point loss of each pair: (P, T) logits and targets -> (P, T).

    ``'bce'`` is binary cross-entropy; ``'focal'`` is the sigmoid focal loss
    ``alpha_t * (1 - p_t) ** gamma * bce``.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    if kind == 'bce':
        return bce
    probs = logits.sigmoid()
    p_t = probs * targets + (1 - probs) * (1 - targets)
    alpha_t = FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)
    return alpha_t * (1 - p_t) ** FOCAL_GAMMA * bce


def pairwise_mask_loss(logits: Tensor, targets: Tensor, kind: str) -> Tensor:
    """Mean per-point loss of every (query, target) pair: (Q, T), (M, T) -> (Q, M).

    The loss at a point is ``t * loss_if_fg + (1 - t) * loss_if_bg``, so the
    mean over points of all pairs is matrix products instead of a Q x M loop.
    It equals :func:`mask_loss` for binary targets.
    """
    loss_if_bg = F.softplus(logits)  # -log(1 - p)
    if kind == 'bce':
        # loss_if_fg = -log(p) = loss_if_bg - x, so the sum over points is
        # sum(loss_if_bg) - x . t: one product.
        return (loss_if_bg.sum(1)[:, None] - logits @ targets.T) / logits.shape[1]
    probs = logits.sigmoid()
    loss_if_fg = FOCAL_ALPHA * (1 - probs) ** FOCAL_GAMMA * F.softplus(-logits)
    loss_if_bg = (1 - FOCAL_ALPHA) * probs ** FOCAL_GAMMA * loss_if_bg
    return (loss_if_fg @ targets.T + loss_if_bg @ (1 - targets).T) / logits.shape[1]


def dice_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Dice loss with +1 smoothing of each pair: (P, T), (P, T) -> (P,)."""
    probs = logits.sigmoid()
    return 1 - (2 * (probs * targets).sum(1) + 1) / (probs.sum(1) + targets.sum(1) + 1)


def pairwise_dice_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Dice loss of every (query, target) pair: (Q, T), (M, T) -> (Q, M)."""
    probs = logits.sigmoid()
    # Doubling the (Q, M) product instead of the (Q, T) probabilities: the same
    # bits (a power of two scales exactly), one pass over Q x T fewer.
    overlap = 2 * (probs @ targets.T)
    total = probs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (overlap + 1) / (total + 1)
