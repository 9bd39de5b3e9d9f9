"""Reading maps at continuous points, and PointRend's uncertainty-guided point choice.

Points are (x, y) pairs normalised to ``[0, 1]`` over the whole map: (0, 0) is the
top-left corner of the top-left pixel and (1, 1) the bottom-right corner of the
bottom-right pixel, so pixel (i, j) of an H x W map has its centre at
``((j + 0.5) / W, (i + 0.5) / H)``. The same point therefore lands on the same
image location whatever the map's resolution.

Shape letters: N maps, C channels, H x W map size, h x w mask-logit size,
T sampled points.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['point_sample', 'point_sample_rows', 'sample_uncertain_points']


def point_sample(features: Tensor, points: Tensor) -> Tensor:
    """Bilinearly read ``features`` at normalised points, zero outside the map.

    Args:
        features: (N, C, H, W) maps.
        points: (N, T, 2) (x, y) coordinates in ``[0, 1]``, one set per map.

    Returns:
        (N, C, T) values at the points.
    """
    # grid_sample works in [-1, 1] with align_corners=False, i.e. -1 and 1 are the
    # outer pixel edges, which is exactly the [0, 1] convention above.
    grid = (2.0 * points - 1.0).unsqueeze(2)  # (N, T, 1, 2)
    sampled = F.grid_sample(features, grid.to(features.dtype), mode='bilinear',
                            padding_mode='zeros', align_corners=False)
    return sampled.squeeze(3)


def point_sample_rows(maps: Tensor, rows: Tensor, points: Tensor) -> Tensor:
    """``point_sample(maps[rows].unsqueeze(1), points).squeeze(1)`` without gathering maps.

    The matched target masks of a decoder stage are a reordering of (nearly) all
    of an image's targets; gathering them copies every full-resolution mask once
    a stage. Instead each map is read where its row asks, in the maps' own
    order: maps that no row names read (0, 0) and are dropped.

    Args:
        maps: (N, H, W).
        rows: (R,) long, distinct indices into ``maps``.
        points: (R, T, 2) points in ``[0, 1]``, one set per row.

    Returns:
        (R, T) values, row i read from ``maps[rows[i]]`` at ``points[i]``.
    """
    grid = points.new_zeros(maps.shape[0], *points.shape[1:])
    grid[rows] = points
    return point_sample(maps.unsqueeze(1), grid).squeeze(1)[rows]


@torch.no_grad()
def sample_uncertain_points(mask_logits: Tensor, num_points: int,
                            oversample_ratio: float = 3.0,
                            importance_sample_ratio: float = 0.75) -> Tensor:
    """Choose points near each mask's decision boundary, plus uniform ones (PointRend).

    ``int(num_points * oversample_ratio)`` candidates are drawn uniformly per mask;
    the ``int(importance_sample_ratio * num_points)`` with the highest uncertainty
    ``-|logit|`` are kept (in decreasing uncertainty), and the remaining points are
    a fresh uniform draw appended at the end. Runs without gradient: the points are
    a sampling choice, not a function to differentiate.

    Args:
        mask_logits: (N, 1, h, w) mask logits.
        num_points: T, points returned per mask.
        oversample_ratio: Candidates per returned point; at least 1.
        importance_sample_ratio: Fraction of the T points chosen by uncertainty,
            in ``[0, 1]``.

    Returns:
        (N, T, 2) (x, y) points in ``[0, 1]``.

    Raises:
        ValueError: If a ratio is out of range.
    """
    if oversample_ratio < 1:
        raise ValueError(f'oversample_ratio must be >= 1, got {oversample_ratio}')
    if not 0 <= importance_sample_ratio <= 1:
        raise ValueError('importance_sample_ratio must be in [0, 1], '
                         f'got {importance_sample_ratio}')
    n = mask_logits.shape[0]
    num_candidates = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    # Coordinates stay fp32 even for half-precision logits: fp16 steps near 1.0 are
    # already ~0.5 px on a 1024-pixel mask.
    device = mask_logits.device

    candidates = torch.rand((n, num_candidates, 2), device=device)
    uncertainty = -point_sample(mask_logits, candidates).squeeze(1).abs()  # (N, 3T)
    # The points' order is irrelevant to the losses, and an unsorted top-k is faster.
    top = uncertainty.topk(num_uncertain, dim=1, sorted=False).indices  # (N, 0.75T)
    uncertain = candidates.gather(1, top.unsqueeze(-1).expand(-1, -1, 2))
    uniform = torch.rand((n, num_points - num_uncertain, 2), device=device)
    return torch.cat([uncertain, uniform], dim=1)
