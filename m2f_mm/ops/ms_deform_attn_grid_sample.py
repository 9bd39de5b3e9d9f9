"""The exportable path of multi-scale deformable attention: one ``grid_sample``
per level (ONNX GridSample, opset 16), for ONNX export only.

Shape letters as in :mod:`m2f_mm.ops.ms_deform_attn`.

It computes the same function as the exact path, with more memory traffic: each
level's value map is transposed to (B * N, Cn, H_l, W_l) and every sample is
read through ``grid_sample``, which an exporter maps to one standard operator,
where the exact path's index arithmetic and ``embedding_bag`` are not exportable.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['ms_deform_attn_grid_sample']


def ms_deform_attn_grid_sample(value: Tensor, spatial_shapes: Tensor,
                               level_start_index: Tensor, sampling_locations: Tensor,
                               attention_weights: Tensor) -> Tensor:
    """:func:`m2f_mm.ops.multi_scale_deformable_attention` with ``grid_sample``.

    The level sizes and offsets are read as tensors, never as Python integers, so
    that a traced graph keeps them as values computed from the input size (an
    exported graph with dynamic input sizes).

    Args:
        value: (B, S, N, Cn).
        spatial_shapes: (L, 2) integer (H_l, W_l).
        level_start_index: (L,) offset of each level in S.
        sampling_locations: (B, Q, N, L, P, 2) normalised (x, y) locations.
        attention_weights: (B, Q, N, L, P).

    Returns:
        (B, Q, N * Cn).
    """
    b, _, n, c = value.shape
    _, q, _, num_levels, num_points, _ = sampling_locations.shape
    # grid_sample's grid is in [-1, 1] with align_corners=False: the same pixel
    # centres as the normalised [0, 1] locations.
    grids = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)  # (B*N, Q, L, P, 2)
    samples = []
    for level in range(num_levels):
        h, w = spatial_shapes[level, 0], spatial_shapes[level, 1]
        start = level_start_index[level]
        level_value = value[:, start:start + h * w]  # (B, H_l*W_l, N, Cn)
        samples.append(F.grid_sample(
            level_value.permute(0, 2, 3, 1).reshape(b * n, c, h, w), grids[:, :, level],
            mode='bilinear', padding_mode='zeros', align_corners=False))  # (B*N, Cn, Q, P)
    weights = attention_weights.transpose(1, 2).reshape(b * n, 1, q, num_levels * num_points)
    out = (torch.cat(samples, dim=-1) * weights).sum(-1)  # (B*N, Cn, Q)
    return out.view(b, n * c, q).transpose(1, 2)
