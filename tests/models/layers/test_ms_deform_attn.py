"""Tests of the multi-scale deformable attention module."""
import math

import torch
from mmcv.ops import MultiScaleDeformableAttention

from m2f_mm.models.layers.ms_deform_attn import MSDeformAttn


def test_init_offsets_follow_direction_grid():
    attn = MSDeformAttn(embed_dims=16, num_heads=8, num_levels=2, num_points=3)
    attn.init_weights()
    bias = attn.sampling_offsets.bias.view(8, 2, 3, 2)  # (head, level, point, xy)
    assert torch.equal(attn.sampling_offsets.weight, torch.zeros_like(attn.sampling_offsets.weight))
    expected = {(0, 0): (1, 0), (0, 2): (3, 0), (1, 0): (1, 1), (1, 1): (2, 2),
                (2, 0): (0, 1), (2, 2): (0, 3), (4, 1): (-2, 0), (6, 0): (0, -1)}
    for (head, point), xy in expected.items():
        for level in range(2):
            torch.testing.assert_close(bias[head, level, point],
                                       torch.tensor(xy, dtype=torch.float32), atol=1e-6, rtol=0)
    for proj in (attn.value_proj, attn.output_proj):
        assert torch.equal(proj.bias, torch.zeros_like(proj.bias))
        bound = math.sqrt(6 / (16 + 16))  # xavier-uniform bound
        assert proj.weight.abs().max() <= bound and proj.weight.std() > bound / 3


def test_init_attention_is_uniform():
    # Identity projections, no offsets and one constant per level: a uniform
    # average over the L * P samples returns the mean of the level constants.
    levels, channels = 3, 8
    attn = MSDeformAttn(embed_dims=channels, num_heads=2, num_levels=levels, num_points=4)
    attn.init_weights()
    with torch.no_grad():
        attn.sampling_offsets.bias.zero_()
        for proj in (attn.value_proj, attn.output_proj):
            proj.weight.copy_(torch.eye(channels))
    sizes = [(4, 5), (3, 3), (2, 6)]
    constants = torch.tensor([1.0, 4.0, 10.0])
    value = torch.cat([c.expand(1, h * w, channels) for c, (h, w) in zip(constants, sizes)], 1)
    shapes = torch.tensor(sizes)
    areas = shapes.prod(1)
    query = torch.randn(1, 7, channels)
    reference = torch.rand(1, 7, levels, 2) * 0.5 + 0.25
    out = attn(query, reference, value, shapes, areas.cumsum(0) - areas)
    torch.testing.assert_close(out, torch.full_like(out, constants.mean().item()))


def test_module_matches_mmcv_without_residual():
    torch.manual_seed(0)
    channels, heads, levels, points = 16, 4, 2, 3
    ours = MSDeformAttn(channels, heads, levels, points)
    ref = MultiScaleDeformableAttention(channels, heads, levels, points, dropout=0.0,
                                        batch_first=True)
    with torch.no_grad():
        for param in ref.parameters():
            param.add_(torch.randn_like(param) * 0.1)  # move away from the init
    ours.load_state_dict(ref.state_dict())
    shapes = torch.tensor([(5, 3), (2, 4)])
    areas = shapes.prod(1)
    start = areas.cumsum(0) - areas
    query, pos = torch.randn(2, 9, channels), torch.randn(2, 9, channels)
    value = torch.randn(2, int(areas.sum()), channels)
    reference = torch.rand(2, 9, levels, 2)
    out = ours(query + pos, reference, value, shapes, start)
    expected = ref(query, value=value, identity=torch.zeros_like(query), query_pos=pos,
                   reference_points=reference, spatial_shapes=shapes, level_start_index=start)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
