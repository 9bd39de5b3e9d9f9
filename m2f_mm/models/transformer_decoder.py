"""Mask2Former's masked-attention transformer decoder and its prediction head.

Shape letters: B batch, Q queries, C embed_dims, E mask_channels, K classes
(K + 1 logits, the last is "no object"), N attention heads, L feature levels,
h_l x w_l size of level l, h x w size of the per-pixel embedding (1/4 input).
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from m2f_mm.registry import MODELS
from .layers.mask_product import mask_product
from .layers.positional_encoding import SinePositionalEncoding

__all__ = ['MaskedAttentionDecoder']


class _ResidualAttention(nn.Module):
    """Post-norm residual attention: ``norm(x + attn(x + x_pos, mem + mem_pos, mem))``.

    ``nn.MultiheadAttention`` with ``need_weights=False`` dispatches to the
    fused scaled-dot-product kernel and falls back to the exact math path by
    itself, so the choice is made in one place (torch). Subclasses name the
    attention as the reference checkpoint does.
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(embed_dims)

    def _attend(self, attn: nn.MultiheadAttention, x: Tensor, x_pos: Tensor, memory: Tensor,
                memory_pos: Tensor, attn_mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            attn: The attention module.
            x: (B, Q, C) queries.
            x_pos: (B, Q, C) query position embedding.
            memory: (B, S, C) keys/values (S = Q for self-attention).
            memory_pos: (B, S, C) key position embedding.
            attn_mask: (B * N, Q, S) bool, True where attention is blocked.

        Returns:
            (B, Q, C).
        """
        out = attn(x + x_pos, memory + memory_pos, memory, attn_mask=attn_mask,
                   need_weights=False)[0]
        return self.norm(x + out)


class _CrossAttentionLayer(_ResidualAttention):
    """Masked cross-attention from the queries to one feature level."""

    def __init__(self, embed_dims: int, num_heads: int) -> None:
        super().__init__(embed_dims)
        self.multihead_attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)

    def forward(self, x: Tensor, x_pos: Tensor, memory: Tensor, memory_pos: Tensor,
                attn_mask: Tensor) -> Tensor:
        """See :meth:`_ResidualAttention._attend`."""
        return self._attend(self.multihead_attn, x, x_pos, memory, memory_pos, attn_mask)


class _SelfAttentionLayer(_ResidualAttention):
    """Self-attention among the queries."""

    def __init__(self, embed_dims: int, num_heads: int) -> None:
        super().__init__(embed_dims)
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)

    def forward(self, x: Tensor, x_pos: Tensor) -> Tensor:
        """(B, Q, C) queries and their position embedding -> (B, Q, C)."""
        return self._attend(self.self_attn, x, x_pos, x, x_pos)


class _FFNLayer(nn.Module):
    """Post-norm residual feed-forward block with ReLU."""

    def __init__(self, embed_dims: int, ffn_channels: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(embed_dims, ffn_channels)
        self.linear2 = nn.Linear(ffn_channels, embed_dims)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """(B, Q, C) -> (B, Q, C)."""
        return self.norm(x + self.linear2(F.relu(self.linear1(x))))


class _MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last)."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int) -> None:
        super().__init__()
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


@MODELS.register_module()
class MaskedAttentionDecoder(BaseModule):
    """Transformer decoder whose cross-attention is restricted to predicted masks.

    Each layer runs masked cross-attention, then self-attention, then an FFN
    (all post-norm, no dropout). Layer i reads feature level ``i % L``. Before
    layer 0 and after every layer a shared head (LayerNorm, class Linear,
    3-layer mask MLP) predicts classes and masks, so ``num_layers + 1``
    predictions come out; the binarised, resized, detached mask of each
    prediction restricts the next layer's cross-attention.

    Args:
        num_classes: K, number of classes (without "no object").
        in_channels: Channels of the multi-scale features from the pixel decoder.
        embed_dims: C, decoder width.
        mask_channels: E, channels of the per-pixel embedding (mask features).
        num_queries: Q.
        num_heads: N.
        ffn_channels: FFN hidden width.
        num_layers: Decoder layers (9 = 3 rounds over 3 levels).
        num_feature_levels: L.
        init_cfg: mmengine init config.

    :class:`~m2f_mm.models.Mask2FormerHead` fills in the sizes it owns
    (``num_classes`` to ``num_queries``).
    """

    def __init__(self, num_classes: int, in_channels: int, embed_dims: int, mask_channels: int,
                 num_queries: int, num_heads: int = 8, ffn_channels: int = 2048,
                 num_layers: int = 9, num_feature_levels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.num_feature_levels = num_feature_levels
        self.pe_layer = SinePositionalEncoding(embed_dims // 2)
        self.query_feat = nn.Embedding(num_queries, embed_dims)
        self.query_embed = nn.Embedding(num_queries, embed_dims)
        self.level_embed = nn.Embedding(num_feature_levels, embed_dims)
        # No parameters when the widths already match, like the reference.
        self.input_proj = nn.ModuleList(
            nn.Conv2d(in_channels, embed_dims, 1) if in_channels != embed_dims else nn.Sequential()
            for _ in range(num_feature_levels))
        self.transformer_cross_attention_layers = nn.ModuleList(
            _CrossAttentionLayer(embed_dims, num_heads) for _ in range(num_layers))
        self.transformer_self_attention_layers = nn.ModuleList(
            _SelfAttentionLayer(embed_dims, num_heads) for _ in range(num_layers))
        self.transformer_ffn_layers = nn.ModuleList(
            _FFNLayer(embed_dims, ffn_channels) for _ in range(num_layers))
        self.decoder_norm = nn.LayerNorm(embed_dims)
        self.class_embed = nn.Linear(embed_dims, num_classes + 1)
        self.mask_embed = _MLP(embed_dims, embed_dims, mask_channels, 3)

    def init_weights(self) -> None:
        """Xavier-uniform init of the decoder layers' matrices, as the reference."""
        super().init_weights()
        layer_lists = (self.transformer_cross_attention_layers,
                       self.transformer_self_attention_layers, self.transformer_ffn_layers)
        for layers in layer_lists:
            for p in layers.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        for proj in self.input_proj:
            if isinstance(proj, nn.Conv2d):
                nn.init.kaiming_uniform_(proj.weight, a=1)
                nn.init.zeros_(proj.bias)

    def forward(self, mask_features: Tensor,
                multi_scale_features: List[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Decode queries against the multi-scale features (the pixel decoder's
        outputs, in its order).

        Args:
            mask_features: (B, E, h, w) per-pixel embedding.
            multi_scale_features: L maps (B, C_in, h_l, w_l), lowest resolution first.

        Returns:
            ``num_layers + 1`` class logits (B, Q, K + 1) and as many mask
            logits (B, Q, h, w), the prediction from the learnable queries first.
        """
        if len(multi_scale_features) != self.num_feature_levels:
            raise ValueError(f'MaskedAttentionDecoder expects {self.num_feature_levels} '
                             f'feature levels, got {len(multi_scale_features)}')
        batch_size = mask_features.shape[0]
        memories, memory_pos, sizes = [], [], []
        for level, feat in enumerate(multi_scale_features):
            sizes.append(feat.shape[-2:])
            # The level embedding is added to the keys' content, not their position.
            src = self.input_proj[level](feat).flatten(2).transpose(1, 2)
            memories.append(src + self.level_embed.weight[level])
            memory_pos.append(self.pe_layer(feat).flatten(2).transpose(1, 2))

        query = self.query_feat.weight.unsqueeze(0).expand(batch_size, -1, -1)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(batch_size, -1, -1)

        cls_preds, mask_preds = [], []
        cls_pred, mask_pred, attn_mask = self._predict(query, mask_features, sizes[0])
        cls_preds.append(cls_pred)
        mask_preds.append(mask_pred)
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            query = self.transformer_cross_attention_layers[i](
                query, query_pos, memories[level], memory_pos[level], attn_mask=attn_mask)
            query = self.transformer_self_attention_layers[i](query, query_pos)
            query = self.transformer_ffn_layers[i](query)
            next_size = sizes[(i + 1) % self.num_feature_levels]
            cls_pred, mask_pred, attn_mask = self._predict(query, mask_features, next_size)
            cls_preds.append(cls_pred)
            mask_preds.append(mask_pred)
        return cls_preds, mask_preds

    def _predict(self, query: Tensor, mask_features: Tensor,
                 attn_size: torch.Size) -> Tuple[Tensor, Tensor, Tensor]:
        """Shared prediction head plus the attention mask for the next layer.

        Args:
            query: (B, Q, C) decoder output.
            mask_features: (B, E, h, w).
            attn_size: (h_l, w_l) of the level the next layer attends to.

        Returns:
            cls_pred (B, Q, K + 1), mask_pred (B, Q, h, w) and attn_mask
            (B * N, Q, h_l * w_l) bool, True where attention is blocked.
        """
        decoded = self.decoder_norm(query)
        cls_pred = self.class_embed(decoded)
        mask_pred = mask_product(self.mask_embed(decoded), mask_features)
        with torch.no_grad():
            resized = F.interpolate(mask_pred, size=attn_size, mode='bilinear', align_corners=False)
            blocked = resized.flatten(2).sigmoid() < 0.5
            # A query whose mask is empty would attend to nothing (softmax of all -inf
            # is NaN): let it attend everywhere instead.
            blocked &= ~blocked.all(dim=-1, keepdim=True)
            attn_mask = blocked.repeat_interleave(self.num_heads, dim=0)
        return cls_pred, mask_pred, attn_mask
