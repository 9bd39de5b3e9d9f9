"""mmdet's ResNet bottleneck with its frozen BatchNorms folded into the convolutions.

Shape letters: B batch, C channels, H x W map size.

In the R50 configs every BatchNorm of the backbone is frozen: a fixed
per-channel affine map right after a convolution. Folded into that
convolution (:func:`~m2f_mm.models.layers.frozen_batch_norm.conv_then_norm`),
it costs no pass of its own over the block's maps, forward or backward.
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

from mmdet.models.backbones.resnet import Bottleneck  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from m2f_mm.models.layers.frozen_batch_norm import conv_then_norm  # noqa: E402
from m2f_mm.models.layers.retype import retype_layers  # noqa: E402

__all__ = ['FoldedBottleneck', 'use_folded_bottlenecks']


class FoldedBottleneck(Bottleneck):
    """mmdet's ``Bottleneck`` (same modules and checkpoint keys) computing each
    convolution and the norm after it through ``conv_then_norm``. Blocks with
    plugins or activation checkpointing run mmdet's forward."""

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C, H, W) -> (B, C', H/s, W/s), s the block's stride."""
        if self.with_plugins or self.with_cp:
            return super().forward(x)
        out = self.relu(conv_then_norm(self.conv1, self.norm1, x))
        out = self.relu(conv_then_norm(self.conv2, self.norm2, out))
        out = conv_then_norm(self.conv3, self.norm3, out)
        out += x if self.downsample is None else _downsample(self.downsample, x)
        return self.relu(out)


def _downsample(downsample: nn.Module, x: Tensor) -> Tensor:
    """The identity branch: mmdet's ``[AvgPool2d,] conv, norm`` sequence, its last
    two layers folded."""
    if not isinstance(downsample, nn.Sequential) or len(downsample) < 2:
        return downsample(x)
    *pre, conv, norm = downsample
    for layer in pre:
        x = layer(x)
    return conv_then_norm(conv, norm, x)


def use_folded_bottlenecks(module: nn.Module) -> int:
    """Make every mmdet ``Bottleneck`` inside ``module`` a :class:`FoldedBottleneck`,
    in place (same objects and parameters; subclasses such as ResNeXt's are left alone).

    Returns:
        The number of blocks changed.
    """
    return retype_layers(module, Bottleneck, FoldedBottleneck)
