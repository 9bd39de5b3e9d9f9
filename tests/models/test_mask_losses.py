"""Mask losses and their pairwise (matching-cost) forms."""
import math

import pytest
import torch
import torch.nn.functional as F

from m2f_mm.models.mask_losses import (check_mask_loss, dice_loss, mask_loss,
                                       pairwise_dice_loss, pairwise_mask_loss)


def _focal_by_hand(x, t, alpha=0.25, gamma=2.0):
    """RetinaNet's sigmoid focal loss of one logit x and binary target t."""
    p = 1 / (1 + math.exp(-x))
    if t == 1:
        return -alpha * (1 - p) ** gamma * math.log(p)
    return -(1 - alpha) * p ** gamma * math.log(1 - p)


def test_bce_and_focal_by_hand():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    targets = torch.tensor([[1.0, 1.0, 0.0]])
    assert torch.allclose(mask_loss(logits, targets, 'bce'),
                          F.binary_cross_entropy_with_logits(logits, targets, reduction='none'))
    expected = [_focal_by_hand(x, t) for x, t in zip(logits[0].tolist(), targets[0].tolist())]
    assert mask_loss(logits, targets, 'focal')[0].tolist() == pytest.approx(expected, rel=1e-6)
    # Focal down-weights the confident right answer (2.0 on a foreground point) most.
    ratio = mask_loss(logits, targets, 'focal') / mask_loss(logits, targets, 'bce')
    assert ratio.argmin() == 0


@pytest.mark.parametrize('kind', ['bce', 'focal'])
def test_pairwise_forms_equal_the_per_pair_losses_on_binary_targets(kind):
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(5, 40, generator=g)
    targets = (torch.rand(4, 40, generator=g) > 0.5).float()
    pairwise = pairwise_mask_loss(logits, targets, kind)
    dice = pairwise_dice_loss(logits, targets)
    assert pairwise.shape == dice.shape == (5, 4)
    for q in range(5):
        for m in range(4):
            pair = logits[q:q + 1], targets[m:m + 1]
            assert pairwise[q, m] == pytest.approx(mask_loss(*pair, kind).mean().item(), rel=1e-5)
            assert dice[q, m] == pytest.approx(dice_loss(*pair).item(), rel=1e-5)


def test_unknown_mask_loss_names_the_key():
    with pytest.raises(ValueError, match=r"criterion.mask_loss='l1' is not a mask loss"):
        check_mask_loss('l1', 'criterion.mask_loss')


def test_pairwise_bce_with_fractional_targets():
    # Point-sampled targets are fractional where a point falls between pixels.
    g = torch.Generator().manual_seed(1)
    logits = 3 * torch.randn(5, 40, generator=g, dtype=torch.float64)
    targets = torch.rand(4, 40, generator=g, dtype=torch.float64)
    expected = torch.stack([mask_loss(logits, t.expand_as(logits), 'bce').mean(1)
                            for t in targets], 1)
    torch.testing.assert_close(pairwise_mask_loss(logits, targets, 'bce'), expected,
                               rtol=1e-12, atol=1e-12)
