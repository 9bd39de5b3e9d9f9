"""MaskFormer's (v1) pixel decoders: a plain FPN over every backbone level,
optionally with a transformer encoder on the coarsest level.

Shape letters: B batch, C_i channels of backbone level i (0 the finest),
C embed_dims, E mask_channels, H_i x W_i size of backbone level i,
h_l x w_l size of output level l, h x w size of the coarsest level,
S = h * w tokens, L number of input levels.
"""
from typing import List, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from m2f_mm.registry import MODELS
from .layers.positional_encoding import SinePositionalEncoding
from .layers.transformer_layers import FFNLayer, SelfAttentionLayer
from .pixel_decoder_base import ConvNorm, PixelDecoder

__all__ = ['FPNPixelDecoder', 'TransformerEncoderPixelDecoder']


@MODELS.register_module()
class FPNPixelDecoder(PixelDecoder):
    """MaskFormer's FPN pixel decoder ("BasePixelDecoder").

    The coarsest level goes through a 3x3 conv; every finer level adds its
    1x1 lateral projection to the nearest-upsampled coarser output and goes
    through its own 3x3 conv (all convs without bias, then GroupNorm, the 3x3
    ones then ReLU). A 3x3 conv on the finest output gives the mask features.

    Submodules carry the reference checkpoints' names, numbered from 1 by
    level: ``adapter_1`` .. ``adapter_{L-1}`` (laterals; the coarsest level
    has none), ``layer_1`` .. ``layer_L`` (outputs) and ``mask_features``.

    Args:
        in_channels: C_i of every input level.
        strides: Stride of every input level, strictly increasing.
        embed_dims: C, width of the FPN.
        mask_channels: E, width of the per-pixel mask features.
        num_outs: Number of (coarsest) FPN outputs returned as multi-scale
            features.
        num_groups: GroupNorm groups.

    :class:`~m2f_mm.models.Mask2FormerHead` fills in the sizes it owns
    (``in_channels`` to ``mask_channels``).
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int], embed_dims: int,
                 mask_channels: int, num_outs: int = 3, num_groups: int = 32) -> None:
        super().__init__(in_channels, strides)
        if not 1 <= num_outs <= len(in_channels):
            raise ValueError(f'num_outs={num_outs} must be between 1 and the number of '
                             f'input levels ({len(in_channels)} in_channels entries)')
        self.num_levels = len(in_channels)
        self.num_outs = num_outs
        for i, channels in enumerate(in_channels):
            if i < self.num_levels - 1:
                setattr(self, f'adapter_{i + 1}', ConvNorm(
                    channels, embed_dims, 1, bias=False,
                    norm=nn.GroupNorm(num_groups, embed_dims)))
                channels = embed_dims
            setattr(self, f'layer_{i + 1}', ConvNorm(
                channels, embed_dims, 3, padding=1, bias=False,
                norm=nn.GroupNorm(num_groups, embed_dims), activation=nn.ReLU()))
        self.mask_features = nn.Conv2d(embed_dims, mask_channels, 3, padding=1)

    def init_weights(self) -> None:
        """Caffe2-xavier init (uniform Kaiming, a=1; zero bias) of every conv, as the reference."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=1)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _coarsest_level(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Process the coarsest input level.

        Args:
            x: (B, C_{L-1}, h, w) coarsest backbone map.

        Returns:
            The coarsest FPN output (B, C, h, w), which starts the top-down
            path, and the coarsest multi-scale feature (B, C, h, w); here both
            are ``layer_L``'s output.
        """
        y = getattr(self, f'layer_{self.num_levels}')(x)
        return y, y

    def decode(self, feats: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Run the top-down path and build the mask features.

        Args:
            feats: One (B, C_i, H_i, W_i) map per input level, finest first.

        Returns:
            mask_features: (B, E, H_0, W_0) at the finest level's size.
            multi_scale_features: ``num_outs`` maps (B, C, h_l, w_l) of the
                coarsest levels, coarsest first (e.g. strides 32, 16, 8).
        """
        y, coarsest = self._coarsest_level(feats[-1])
        outs = [coarsest]
        for i in range(self.num_levels - 2, -1, -1):
            lateral = getattr(self, f'adapter_{i + 1}')(feats[i])
            y = lateral + F.interpolate(y, size=lateral.shape[-2:], mode='nearest')
            y = getattr(self, f'layer_{i + 1}')(y)
            outs.append(y)
        return self.mask_features(y), outs[:self.num_outs]


class _EncoderLayer(nn.Module):
    """Post-norm layer: self-attention (position on queries and keys), then an FFN."""

    def __init__(self, embed_dims: int, num_heads: int, ffn_channels: int,
                 dropout: float) -> None:
        super().__init__()
        self.self_attn = SelfAttentionLayer(embed_dims, num_heads, dropout)
        self.ffn = FFNLayer(embed_dims, ffn_channels, dropout)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        """x (B, S, C); pos (1 or B, S, C) -> (B, S, C)."""
        return self.ffn(self.self_attn(x, pos))


class _TransformerEncoder(nn.Module):
    """A stack of :class:`_EncoderLayer` over the pixels of one map, with a
    sine position encoding."""

    def __init__(self, embed_dims: int, num_layers: int, **layer_kwargs) -> None:
        super().__init__()
        self.position_encoding = SinePositionalEncoding(embed_dims // 2)
        self.layers = nn.ModuleList(_EncoderLayer(embed_dims, **layer_kwargs)
                                    for _ in range(num_layers))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> the encoded map (B, C, h, w)."""
        b, c, h, w = x.shape
        # The encoding only depends on the map size, so one batch entry suffices.
        pos = self.position_encoding(x[:1]).flatten(2).transpose(1, 2)  # (1, S, C)
        tokens = x.flatten(2).transpose(1, 2)  # (B, S, C)
        for layer in self.layers:
            tokens = layer(tokens, pos)
        return tokens.transpose(1, 2).reshape(b, c, h, w)


@MODELS.register_module()
class TransformerEncoderPixelDecoder(FPNPixelDecoder):
    """MaskFormer's pixel decoder with a transformer encoder on the coarsest level.

    The coarsest map is projected to C channels (``input_proj``, 1x1 conv)
    and encoded by ``num_layers`` post-norm self-attention + FFN layers
    (``transformer``); ``layer_L`` and the top-down path of
    :class:`FPNPixelDecoder` then run on the encoded map. The coarsest
    multi-scale feature is the encoder's output (before ``layer_L``), which
    MaskFormer's transformer decoder reads; the finer ones are FPN outputs.

    Args:
        in_channels, strides, embed_dims, mask_channels, num_outs, num_groups:
            As :class:`FPNPixelDecoder`.
        num_layers: Encoder layers.
        num_heads: Attention heads.
        ffn_channels: Hidden width of the encoder FFN.
        dropout: Dropout in the encoder's attentions and FFNs.
    """

    def __init__(self, in_channels: Sequence[int], strides: Sequence[int], embed_dims: int,
                 mask_channels: int, num_outs: int = 3, num_groups: int = 32,
                 num_layers: int = 6, num_heads: int = 8, ffn_channels: int = 2048,
                 dropout: float = 0.1) -> None:
        # The FPN reads the encoder's output, C channels, in place of the coarsest map
        # (an empty in_channels stays empty, for the base class to reject).
        super().__init__([*in_channels[:-1], *(embed_dims for _ in in_channels[-1:])], strides,
                         embed_dims, mask_channels, num_outs, num_groups)
        self.input_proj = nn.Conv2d(in_channels[-1], embed_dims, 1)
        self.transformer = _TransformerEncoder(embed_dims, num_layers, num_heads=num_heads,
                                               ffn_channels=ffn_channels, dropout=dropout)

    def init_weights(self) -> None:
        """The convs (``input_proj`` included) as :class:`FPNPixelDecoder`;
        xavier-uniform for the encoder's matrices, as the reference."""
        super().init_weights()
        for param in self.transformer.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)

    def _coarsest_level(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Encode the coarsest map: returns ``layer_L`` of the encoded map
        (B, C, h, w), which starts the top-down path, and the encoded map
        (B, C, h, w) itself, the coarsest multi-scale feature."""
        encoded = self.transformer(self.input_proj(x))
        return getattr(self, f'layer_{self.num_levels}')(encoded), encoded
