"""Mask2Former's masked-attention transformer decoder and its prediction head.

Shape letters: B batch, Q queries, C embed_dims, E mask_channels, K classes
(K + 1 logits, the last is "no object"), N attention heads, L feature levels,
h_l x w_l size of level l, h x w size of the per-pixel embedding (1/4 input).
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from m2f_mm.registry import MODELS
from .layers.bilinear_downsample import bilinear_downsample
from .layers.mask_product import mask_product, shared_features
from .layers.positional_encoding import SinePositionalEncoding
from .layers.transformer_layers import MLP, CrossAttentionLayer, FFNLayer, SelfAttentionLayer

__all__ = ['MaskedAttentionDecoder']


@MODELS.register_module()
class MaskedAttentionDecoder(BaseModule):
    """Transformer decoder whose cross-attention is restricted to predicted masks.

    By default each layer runs masked cross-attention, then self-attention,
    then an FFN (all post-norm, no dropout), and layer i reads feature level
    ``i % L``. Before layer 0 and after every layer a shared head (LayerNorm,
    class Linear, 3-layer mask MLP) predicts classes and masks, so
    ``num_layers + 1`` predictions come out; the binarised, resized, detached
    mask of each prediction restricts the next layer's cross-attention.

    The switches after ``num_feature_levels`` turn the paper's ablations on
    (Mask2Former Table 4) and, together, give MaskFormer's standard decoder
    (``masked_attention=False, cross_attention_first=False,
    learnable_query_features=False, dropout=0.1, initial_prediction=False`` on
    one level). None of them adds or removes a parameter except
    ``learnable_query_features``.

    Args:
        num_classes: K, number of classes (without "no object").
        in_channels: Channels of the multi-scale features from the pixel decoder.
        embed_dims: C, decoder width.
        mask_channels: E, channels of the per-pixel embedding (mask features).
        num_queries: Q.
        num_heads: N.
        ffn_channels: FFN hidden width.
        num_layers: Decoder layers (9 = 3 rounds over 3 levels).
        num_feature_levels: L, levels the pixel decoder gives. A learnable
            level embedding is added to the keys when L > 1.
        masked_attention: Restrict cross-attention to the previous prediction's
            mask; False attends everywhere.
        single_scale_level: None reads the levels round robin; a level index
            (0 = coarsest) makes every layer read that level.
        cross_attention_first: Cross-attention before self-attention;
            False is the standard (DETR) order.
        learnable_query_features: Learn the query features X0; False starts
            the queries from zeros (the query positions stay learnable).
        dropout: Dropout in the attentions and FFNs.
        initial_prediction: Predict (and so supervise) from X0 before layer 0.
        init_cfg: mmengine init config.

    :class:`~m2f_mm.models.Mask2FormerHead` fills in the sizes it owns
    (``num_classes`` to ``num_queries``).
    """

    def __init__(self, num_classes: int, in_channels: int, embed_dims: int, mask_channels: int,
                 num_queries: int, num_heads: int = 8, ffn_channels: int = 2048,
                 num_layers: int = 9, num_feature_levels: int = 3,
                 masked_attention: bool = True, single_scale_level: Optional[int] = None,
                 cross_attention_first: bool = True, learnable_query_features: bool = True,
                 dropout: float = 0.0, initial_prediction: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if single_scale_level is not None and not 0 <= single_scale_level < num_feature_levels:
            raise ValueError(f'transformer_decoder.single_scale_level={single_scale_level} is '
                             f'not a level index: num_feature_levels={num_feature_levels}')
        self.num_layers = num_layers
        self.num_feature_levels = num_feature_levels
        self.masked_attention = masked_attention
        self.single_scale_level = single_scale_level
        self.cross_attention_first = cross_attention_first
        self.dropout = dropout
        self.initial_prediction = initial_prediction
        self.pe_layer = SinePositionalEncoding(embed_dims // 2)
        self.query_feat = (nn.Embedding(num_queries, embed_dims) if learnable_query_features
                           else None)
        self.query_embed = nn.Embedding(num_queries, embed_dims)
        self.level_embed = (nn.Embedding(num_feature_levels, embed_dims)
                            if num_feature_levels > 1 else None)
        # No parameters when the widths already match, like the reference.
        self.input_proj = nn.ModuleList(
            nn.Conv2d(in_channels, embed_dims, 1) if in_channels != embed_dims else nn.Sequential()
            for _ in range(num_feature_levels))
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(embed_dims, num_heads, dropout) for _ in range(num_layers))
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(embed_dims, num_heads, dropout) for _ in range(num_layers))
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(embed_dims, ffn_channels, dropout) for _ in range(num_layers))
        self.decoder_norm = nn.LayerNorm(embed_dims)
        self.class_embed = nn.Linear(embed_dims, num_classes + 1)
        self.mask_embed = MLP(embed_dims, embed_dims, mask_channels, 3)

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

    def level_of_layer(self, i: int) -> int:
        """The feature level layer ``i`` reads (``i = num_layers`` is allowed)."""
        if self.single_scale_level is not None:
            return self.single_scale_level
        return i % self.num_feature_levels

    def forward(self, mask_features: Tensor, multi_scale_features: List[Tensor],
                final_only: bool = False) -> Tuple[List[Tensor], List[Tensor]]:
        """Decode queries against the multi-scale features (the pixel decoder's
        outputs, in its order).

        Args:
            mask_features: (B, E, h, w) per-pixel embedding.
            multi_scale_features: L maps (B, C_in, h_l, w_l), lowest resolution first.
            final_only: Predict the last stage alone (inference). The earlier
                stages then only steer the masked attention, at the attended
                level's size: resizing is linear, so their masks at that size
                are products with the per-pixel embedding resized once per
                level, instead of full-size products resized per stage.

        Returns:
            Class logits (B, Q, K + 1) and mask logits (B, Q, h, w) of every
            prediction, in order: ``num_layers + 1`` of each with
            ``initial_prediction`` (the one from X0 first), else ``num_layers``;
            with ``final_only``, the last one alone.
        """
        if len(multi_scale_features) != self.num_feature_levels:
            raise ValueError(f'MaskedAttentionDecoder expects {self.num_feature_levels} '
                             f'feature levels, got {len(multi_scale_features)}')
        batch_size = mask_features.shape[0]
        memories, memory_pos, sizes = [], [], []
        for level, feat in enumerate(multi_scale_features):
            sizes.append(feat.shape[-2:])
            src = self.input_proj[level](feat).flatten(2).transpose(1, 2)
            if self.level_embed is not None:
                # The level embedding is added to the keys' content, not their position.
                src = src + self.level_embed.weight[level]
            memories.append(src)
            memory_pos.append(self.pe_layer(feat).flatten(2).transpose(1, 2))

        query_pos = self.query_embed.weight.unsqueeze(0).expand(batch_size, -1, -1)
        query = (self.query_feat.weight.unsqueeze(0).expand(batch_size, -1, -1)
                 if self.query_feat is not None else torch.zeros_like(query_pos))

        mask_features = shared_features(mask_features)  # read by every stage
        resized_features: Dict[Tuple[int, int], Tensor] = {}

        def predict(stage: int, query: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor],
                                                         Optional[Tensor]]:
            """Stage ``stage``'s prediction (stage 0 reads X0) and the next layer's mask."""
            last = stage == self.num_layers
            attn_size = None if last else tuple(sizes[self.level_of_layer(stage)])
            if not final_only or last:
                return self._predict(query, mask_features, attn_size)
            if not self.masked_attention:
                return None, None, None
            if attn_size not in resized_features:
                with torch.no_grad():
                    resized_features[attn_size] = bilinear_downsample(mask_features, attn_size)
            return None, None, self._predict_attention_mask(query, resized_features[attn_size])

        cls_preds, mask_preds, attn_mask = [], [], None
        if self.initial_prediction or self.masked_attention:
            cls_pred, mask_pred, attn_mask = predict(0, query)
            if self.initial_prediction and cls_pred is not None:
                cls_preds.append(cls_pred)
                mask_preds.append(mask_pred)
        for i in range(self.num_layers):
            level = self.level_of_layer(i)
            cross_attention = self.transformer_cross_attention_layers[i]
            self_attention = self.transformer_self_attention_layers[i]
            if self.cross_attention_first:
                query = cross_attention(query, query_pos, memories[level], memory_pos[level],
                                        attn_mask)
                query = self_attention(query, query_pos)
            else:
                query = self_attention(query, query_pos)
                query = cross_attention(query, query_pos, memories[level], memory_pos[level],
                                        attn_mask)
            query = self.transformer_ffn_layers[i](query)
            cls_pred, mask_pred, attn_mask = predict(i + 1, query)
            if cls_pred is not None:
                cls_preds.append(cls_pred)
                mask_preds.append(mask_pred)
        return cls_preds, mask_preds

    def _predict(self, query: Tensor, mask_features: Tensor, attn_size: Optional[Tuple[int, int]]
                 ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Shared prediction head plus the attention mask for the next layer.

        Args:
            query: (B, Q, C) decoder output.
            mask_features: (B, E, h, w).
            attn_size: (h_l, w_l) of the level the next layer attends to;
                None after the last layer.

        Returns:
            cls_pred (B, Q, K + 1), mask_pred (B, Q, h, w) and attn_mask
            (B, Q, h_l * w_l) bool, True where attention is blocked (for every
            head), or None without masked attention or a next layer.
        """
        decoded = self.decoder_norm(query)
        cls_pred = self.class_embed(decoded)
        mask_pred = mask_product(self.mask_embed(decoded), mask_features)
        if not self.masked_attention or attn_size is None:
            return cls_pred, mask_pred, None
        with torch.no_grad():
            return cls_pred, mask_pred, _blocked(bilinear_downsample(mask_pred, attn_size))

    def _predict_attention_mask(self, query: Tensor, resized_features: Tensor) -> Tensor:
        """The next layer's attention mask alone, from the per-pixel embedding
        (B, E, h_l, w_l) already resized to the attended level's size.

        Args:
            query: (B, Q, C) decoder output.

        Returns:
            (B, Q, h_l * w_l) bool, as :meth:`_predict`'s.
        """
        with torch.no_grad():
            embed = self.mask_embed(self.decoder_norm(query))
            return _blocked(mask_product(embed, resized_features))


def _blocked(mask_logits: Tensor) -> Tensor:
    """(B, Q, h_l, w_l) mask logits -> (B, Q, h_l * w_l) bool, True where a query
    may not attend: outside its predicted mask."""
    blocked = mask_logits.flatten(2).sigmoid() < 0.5
    # A query whose mask is empty would attend to nothing (softmax of all -inf
    # is NaN): let it attend everywhere instead.
    return blocked & ~blocked.all(dim=-1, keepdim=True)
