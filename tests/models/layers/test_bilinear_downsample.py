"""bilinear_downsample equals F.interpolate(bilinear, align_corners=False) at every size."""
import pytest
import torch
import torch.nn.functional as F

from m2f_mm.models.layers.bilinear_downsample import bilinear_downsample


@pytest.mark.parametrize('in_size,size', [((128, 96), (64, 48)), ((128, 96), (32, 24)),
                                          ((128, 96), (16, 12)), ((24, 24), (3, 3)),
                                          ((125, 94), (63, 47)), ((96, 96), (32, 32)),
                                          ((32, 32), (32, 32)), ((32, 32), (64, 64))])
def test_matches_interpolate(in_size, size):
    x = torch.randn(2, 3, *in_size, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    expected = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
    torch.testing.assert_close(bilinear_downsample(x, size), expected, rtol=0, atol=1e-12)


def test_strided_path_reads_only_the_cell_centres():
    # Each 4 x 4 cell holds a constant, but its four centre pixels hold another:
    # only those may reach the output.
    x = torch.zeros(1, 1, 8, 8)
    x[..., 1:3, 1:3] = 1.0
    x[..., 5:7, 5:7] = 2.0
    assert bilinear_downsample(x, (2, 2)).flatten().tolist() == [1.0, 0.0, 0.0, 2.0]
