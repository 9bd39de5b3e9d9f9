"""Tests for m2f_mm.models.point_sample."""
import pytest
import torch

from m2f_mm.models.point_sample import point_sample, point_sample_rows, sample_uncertain_points


def pixel_centres(h, w):
    """(h * w, 2) normalised (x, y) centres of an h x w map, row-major."""
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w,
                            indexing='ij')
    return torch.stack([xs.flatten(), ys.flatten()], dim=-1)


def test_point_sample_reads_exact_pixel_values_at_centres():
    torch.manual_seed(0)
    features = torch.randn(2, 3, 5, 7)
    points = pixel_centres(5, 7).expand(2, -1, -1)
    out = point_sample(features, points)
    assert out.shape == (2, 3, 35)
    torch.testing.assert_close(out, features.flatten(2), rtol=0, atol=1e-6)


def test_point_sample_interpolates_bilinearly_and_pads_with_zeros():
    features = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]]]])  # (1, 1, 2, 2)
    points = torch.tensor([[[0.5, 0.25],    # between the two top centres
                            [0.5, 0.5],     # middle of all four centres
                            [0.0, 0.0],     # top-left corner: 1 of 4 neighbours inside
                            [0.75, 1.0],    # bottom edge under the (1, 1) centre
                            [2.0, 2.0]]])   # far outside
    out = point_sample(features, points)
    expected = torch.tensor([[[2.0, 4.0, 0.25, 3.5, 0.0]]])
    torch.testing.assert_close(out, expected)


def test_point_sample_is_resolution_independent_for_upsampled_maps():
    # A nearest-upsampled map is piecewise constant on the same image regions, so
    # reading both at the centres of the coarse pixels gives the same values.
    torch.manual_seed(0)
    coarse = torch.randn(1, 1, 4, 4)
    fine = coarse.repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)
    points = pixel_centres(4, 4)[None]
    torch.testing.assert_close(point_sample(fine, points), point_sample(coarse, points))


def test_point_sample_propagates_gradient_to_features():
    features = torch.zeros(1, 1, 2, 2, requires_grad=True)
    point_sample(features, torch.tensor([[[0.5, 0.5]]])).sum().backward()
    torch.testing.assert_close(features.grad, torch.full((1, 1, 2, 2), 0.25))


def test_uncertain_points_lie_where_logits_are_zero():
    torch.manual_seed(0)
    n, h, w, num_points = 3, 16, 16, 64
    logits = torch.full((n, 1, h, w), 10.0)
    logits[..., :10] = 0.0  # columns 0..9 are maximally uncertain
    logits[1] *= -1  # the sign must not matter, only |logit|
    points = sample_uncertain_points(logits, num_points)
    num_uncertain = int(0.75 * num_points)
    assert points.shape == (n, num_points, 2)
    # Only candidates left of the centre of column 9 read exactly 0; beyond it the
    # bilinear read mixes in the 10s. About 3 * 64 * 9.5/16 ~ 114 candidates fall
    # there, far more than the 48 kept, so all kept points are in that band.
    assert (points[:, :num_uncertain, 0] <= 9.5 / w).all()
    # The trailing uniform points are not restricted to it.
    assert (points[:, num_uncertain:, 0] > 9.5 / w).any()
    assert ((points >= 0) & (points <= 1)).all()


def test_uncertain_points_are_candidates_then_a_fresh_uniform_draw(monkeypatch):
    torch.manual_seed(0)
    draws = []
    real_rand = torch.rand

    def recording_rand(*args, **kwargs):
        out = real_rand(*args, **kwargs)
        draws.append(out)
        return out

    monkeypatch.setattr(torch, 'rand', recording_rand)
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    points = sample_uncertain_points(logits, num_points=10)  # int(7.5) = 7 kept

    assert [d.shape for d in draws] == [(2, 30, 2), (2, 3, 2)]
    assert points.shape == (2, 10, 2)
    assert not points.requires_grad
    candidates, uniform = draws
    torch.testing.assert_close(points[:, 7:], uniform, rtol=0, atol=0)
    for b in range(2):
        # Every kept point is one of the image's own candidates, none twice, and
        # they are the 7 with the smallest |logit|.
        match = (points[b, :7, None, :] == candidates[b, None, :, :]).all(-1)  # (7, 30)
        assert (match.sum(1) == 1).all()
        kept = match.float().argmax(1)
        abs_logit = point_sample(logits[b:b + 1].detach(), candidates[b:b + 1]).abs()[0, 0]
        assert set(kept.tolist()) == set(abs_logit.argsort()[:7].tolist())


@pytest.mark.parametrize('importance, expected_uniform', [(0.0, 10), (1.0, 0)])
def test_uncertain_points_extreme_importance_ratios(importance, expected_uniform):
    torch.manual_seed(0)
    logits = torch.zeros(1, 1, 4, 4)
    logits[..., 3:] = 5.0
    points = sample_uncertain_points(logits, 10, importance_sample_ratio=importance)
    assert points.shape == (1, 10, 2)
    kept = 10 - expected_uniform
    assert (points[0, :kept, 0] <= 2.5 / 4).all()


@pytest.mark.parametrize('kwargs', [dict(oversample_ratio=0.5),
                                    dict(importance_sample_ratio=1.5),
                                    dict(importance_sample_ratio=-0.1)])
def test_uncertain_points_reject_bad_ratios(kwargs):
    with pytest.raises(ValueError, match='ratio'):
        sample_uncertain_points(torch.zeros(1, 1, 4, 4), 8, **kwargs)


def test_point_sample_rows_equals_gathering_the_maps():
    g = torch.Generator().manual_seed(0)
    maps = (torch.rand(5, 12, 10, generator=g) > 0.5).float()
    rows = torch.tensor([3, 0, 4])  # map 1 and 2 are named by no row
    points = torch.rand(3, 7, 2, generator=g)
    expected = point_sample(maps[rows].unsqueeze(1), points).squeeze(1)
    assert torch.equal(point_sample_rows(maps, rows, points), expected)
