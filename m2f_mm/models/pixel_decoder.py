"""Mask2Former's pixel decoder: a deformable-attention encoder over the
coarsest feature levels plus one FPN step to stride 4.

Shape letters: B batch, C_i channels of backbone level i, C embed_dims,
E mask_channels, H_i x W_i size of backbone level i, h_l x w_l size of encoder
level l, S = sum_l h_l * w_l, L num_encoder_levels.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m2f_mm.registry import MODELS
from .layers.ms_deform_attn import MSDeformAttn
from .layers.pointwise_conv import Conv2d, PixelMajorConv2d
from .layers.positional_encoding import SinePositionalEncoding
from .layers.relu_ffn import relu_ffn
from .pixel_decoder_base import ConvNorm, PixelDecoder

__all__ = ['MSDeformAttnPixelDecoder']


class _EncoderLayer(nn.Module):
    """Post-norm layer: deformable self-attention, then a ReLU FFN."""

    def __init__(self, embed_dims: int, num_heads: int, num_levels: int, num_points: int,
                 ffn_channels: int) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(embed_dims, num_heads, num_levels, num_points)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.linear1 = nn.Linear(embed_dims, ffn_channels)
        self.linear2 = nn.Linear(ffn_channels, embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)

    def forward(self, x: Tensor, pos: Tensor, reference_points: Tensor,
                spatial_shapes: Tensor, level_start_index: Tensor) -> Tensor:
        """x (B, S, C); pos (1 or B, S, C); reference_points (B, S, L, 2) -> (B, S, C)."""
        x = self.norm1(x + self.self_attn(x + pos, reference_points, x, spatial_shapes,
                                          level_start_index))
        return self.norm2(x + relu_ffn(x, self.linear1, self.linear2))


class _Encoder(nn.Module):
    """A stack of :class:`_EncoderLayer`."""

    def __init__(self, num_layers: int, **layer_kwargs) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_EncoderLayer(**layer_kwargs) for _ in range(num_layers))

    def forward(self, x: Tensor, *args: Tensor) -> Tensor:
        """x (B, S, C) and the layer arguments -> (B, S, C)."""
        for layer in self.layers:
            x = layer(x, *args)
        return x


class _Transformer(nn.Module):
    """Flattens the encoder levels, adds sine + level position embeddings,
    runs the encoder and splits the result back into maps."""

    def __init__(self, embed_dims: int, num_levels: int, **encoder_kwargs) -> None:
        super().__init__()
        # zeros, not torch.empty: a model used before init_weights stays finite
        self.level_embed = nn.Parameter(torch.zeros(num_levels, embed_dims))
        self.encoder = _Encoder(embed_dims=embed_dims, num_levels=num_levels, **encoder_kwargs)
        self.position_encoding = SinePositionalEncoding(embed_dims // 2)

    def forward(self, maps: List[Tensor]) -> List[Tensor]:
        """L maps (B, C, h_l, w_l), coarsest first -> the encoded maps, same shapes."""
        b, c = maps[0].shape[:2]
        sizes = [tuple(m.shape[-2:]) for m in maps]
        x = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], 1)  # (B, S, C)
        # The encoding only depends on the map size, so one batch entry suffices.
        pos = torch.cat([(self.position_encoding(m[:1]) + embed.view(1, -1, 1, 1)).flatten(2)
                         for m, embed in zip(maps, self.level_embed)], 2).transpose(1, 2)
        # From the shapes as tensors: an exported graph then computes them from its input.
        spatial_shapes = torch.stack([torch._shape_as_tensor(m)[-2:] for m in maps]).to(x.device)
        areas = spatial_shapes.prod(1)
        level_start_index = areas.cumsum(0) - areas
        reference_points = _pixel_centres(sizes, x).expand(b, -1, len(maps), -1)
        x = self.encoder(x, pos, reference_points, spatial_shapes, level_start_index)
        return [t.transpose(1, 2).reshape(b, c, h, w)
                for t, (h, w) in zip(x.split([h * w for h, w in sizes], 1), sizes)]


def _pixel_centres(sizes: Sequence[Tuple[int, int]], like: Tensor) -> Tensor:
    """Normalised (x, y) centres ((i + 0.5) / w, (j + 0.5) / h) of every pixel
    of every level, flattened row-major: (1, S, 1, 2)."""
    centres = []
    for h, w in sizes:
        y = (torch.arange(h, dtype=like.dtype, device=like.device) + 0.5) / h
        x = (torch.arange(w, dtype=like.dtype, device=like.device) + 0.5) / w
        centres.append(torch.stack(torch.meshgrid(x, y, indexing='xy'), -1).reshape(-1, 2))
    return torch.cat(centres)[None, :, None, :]


@MODELS.register_module()
class MSDeformAttnPixelDecoder(PixelDecoder):
    """Deformable-attention encoder over the top ``num_encoder_levels``
    backbone levels, then one FPN step onto the level just below them.

    Inputs are ordered by increasing stride, e.g. res2..res5 at strides
    4, 8, 16, 32; with three encoder levels, res3..res5 are encoded and res2
    is the FPN lateral. Inputs below the lateral level are not used.

    Args:
        in_channels: C_i of every input level.
        strides: Stride of every input level, strictly increasing.
        embed_dims: C, width of the encoder and of the FPN.
        mask_channels: E, width of the per-pixel mask features.
        num_encoder_levels: L, number of (coarsest) levels in the encoder.
        num_layers: Encoder layers.
        num_heads: Attention heads.
        num_points: Sampling points per head and level.
        ffn_channels: Hidden width of the encoder FFN.
        num_groups: GroupNorm groups.

    :class:`~m2f_mm.models.Mask2FormerHead` fills in the sizes it owns
    (``in_channels`` to ``mask_channels``).
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int], embed_dims: int,
                 mask_channels: int, num_encoder_levels: int = 3, num_layers: int = 6,
                 num_heads: int = 8, num_points: int = 4, ffn_channels: int = 1024,
                 num_groups: int = 32) -> None:
        super().__init__(in_channels, strides)
        if len(in_channels) < num_encoder_levels + 1:
            raise ValueError(f'in_channels has {len(in_channels)} levels; '
                             f'num_encoder_levels={num_encoder_levels} needs one more '
                             'level below the encoder levels for the FPN')
        self.in_channels = list(in_channels)
        self.num_encoder_levels = num_encoder_levels
        # Index 0 projects the coarsest level, matching the reference order.
        self.input_proj = nn.ModuleList(
            nn.Sequential(Conv2d(c, embed_dims, 1), nn.GroupNorm(num_groups, embed_dims))
            for c in reversed(self.in_channels[-num_encoder_levels:]))
        self.transformer = _Transformer(
            embed_dims, num_encoder_levels, num_layers=num_layers, num_heads=num_heads,
            num_points=num_points, ffn_channels=ffn_channels)
        lateral_channels = self.in_channels[-num_encoder_levels - 1]
        self.adapter_1 = ConvNorm(lateral_channels, embed_dims, 1, bias=False,
                                   norm=nn.GroupNorm(num_groups, embed_dims))
        self.layer_1 = ConvNorm(embed_dims, embed_dims, 3, padding=1, bias=False,
                                 norm=nn.GroupNorm(num_groups, embed_dims),
                                 activation=nn.ReLU(inplace=True))
        self.mask_features = PixelMajorConv2d(embed_dims, mask_channels, 1)

    def init_weights(self) -> None:
        """Initialise as the reference: xavier for the projections and the
        encoder (then Deformable-DETR init for its attention), N(0, 1) level
        embeddings, and caffe2-xavier for the FPN and the mask features."""
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)
        for param in self.transformer.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        for module in self.transformer.modules():
            if isinstance(module, MSDeformAttn):
                module.init_weights()
        nn.init.normal_(self.transformer.level_embed)
        for conv in (self.adapter_1, self.layer_1, self.mask_features):
            nn.init.kaiming_uniform_(conv.weight, a=1)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def decode(self, feats: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Encode the coarse levels and build the stride-4 mask features.

        Args:
            feats: One (B, C_i, H_i, W_i) map per input level, finest first.

        Returns:
            mask_features: (B, E, H_f, W_f) at the FPN (lateral) level's size.
            multi_scale_features: L maps (B, C, h_l, w_l), coarsest first
                (e.g. strides 32, 16, 8).
        """
        encoder_feats = feats[-self.num_encoder_levels:][::-1]
        outs = self.transformer([proj(f) for proj, f in zip(self.input_proj, encoder_feats)])
        lateral = self.adapter_1(feats[-self.num_encoder_levels - 1])
        # outs[-1] is a transposed view in channels-last order; upsampled as it is, the
        # whole stride-4 FPN (conv, GroupNorm, their gradients) would run channels-last,
        # and the GroupNorm and convolution backwards copy such tensors to contiguous.
        # The add is in place on the fresh upsampled map (neither op's backward reads
        # it): one stride-4 map fewer to allocate, as with the in-place ReLU of layer_1.
        y = F.interpolate(outs[-1].contiguous(), size=lateral.shape[-2:], mode='bilinear',
                          align_corners=False).add_(lateral)
        return self.mask_features(self.layer_1(y)), outs
