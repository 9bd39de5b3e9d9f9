"""The host-independent Mask2Former head: pixel decoder + masked-attention decoder + losses.

Shape letters: B batch, Q queries, K classes (K + 1 logits, the last is
"no object"), M target masks of an image, H x W padded input size,
h x w = H/4 x W/4 per-pixel embedding size.

This module imports neither mmdet nor mmseg; the adapters in
:mod:`m2f_mm.adapters` plug it into each host library.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from m2f_mm.registry import MODELS, build_in_plugin_scope

__all__ = ['Mask2FormerHead']


@MODELS.register_module()
class Mask2FormerHead(BaseModule):
    """Mask2Former head over backbone features of any channels and strides.

    Args:
        in_channels: Channels of each backbone level, increasing stride.
        strides: Stride of each backbone level.
        num_classes: K.
        num_queries: Q.
        embed_dims: Width of the pixel decoder and the transformer decoder.
        mask_channels: Channels of the per-pixel (mask) embedding.
        pixel_decoder: Config of the pixel decoder; ``in_channels``,
            ``strides``, ``embed_dims`` and ``mask_channels`` are filled in.
        transformer_decoder: Config of the transformer decoder; ``num_classes``,
            ``in_channels`` (= ``embed_dims``), ``embed_dims``, ``mask_channels``
            and ``num_queries`` are filled in.
        criterion: Config of the loss; ``num_classes`` is filled in.
        init_cfg: mmengine init config.

    A key of a sub-config that its class does not take is reported as
    ``<config_key>.<sub-config>.<key>`` with the nearest valid key.
    """

    # Where this head sits in a config; the adapters set their hosts' keys.
    config_key = 'head'

    def __init__(self,
                 in_channels: Sequence[int],
                 strides: Sequence[int],
                 num_classes: int,
                 num_queries: int = 100,
                 embed_dims: int = 256,
                 mask_channels: int = 256,
                 pixel_decoder: dict = dict(type='MSDeformAttnPixelDecoder'),
                 transformer_decoder: dict = dict(type='MaskedAttentionDecoder'),
                 criterion: dict = dict(type='Mask2FormerCriterion'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.num_queries = num_queries
        self.pixel_decoder = build_in_plugin_scope(dict(
            pixel_decoder, in_channels=list(in_channels), strides=list(strides),
            embed_dims=embed_dims, mask_channels=mask_channels),
            where=f'{self.config_key}.pixel_decoder')
        self.predictor = build_in_plugin_scope(dict(
            transformer_decoder, num_classes=num_classes, in_channels=embed_dims,
            embed_dims=embed_dims, mask_channels=mask_channels, num_queries=num_queries),
            where=f'{self.config_key}.transformer_decoder')
        self.criterion = build_in_plugin_scope(dict(criterion, num_classes=num_classes),
                                               where=f'{self.config_key}.criterion')

    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Predict classes and masks at every decoder stage.

        Args:
            feats: Backbone maps (B, C_i, H_i, W_i), increasing stride.

        Returns:
            Class logits (B, Q, K + 1) and mask logits (B, Q, h, w) of each
            stage, the final prediction last.
        """
        return self.predictor(*self.pixel_decoder(feats))

    def final_prediction(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Predict the final stage alone, as inference needs it.

        Args:
            feats: Backbone maps (B, C_i, H_i, W_i), increasing stride.

        Returns:
            Class logits (B, Q, K + 1) and mask logits (B, Q, h, w) of the last stage.
        """
        (cls_logits,), (mask_logits,) = self.predictor(*self.pixel_decoder(feats),
                                                       final_only=True)
        return cls_logits, mask_logits

    def loss_by_targets(self, feats: Sequence[Tensor],
                        targets: List[Dict[str, Tensor]]) -> Dict[str, Tensor]:
        """Forward and compute the deep-supervision losses.

        Args:
            feats: Backbone maps (B, C_i, H_i, W_i), increasing stride.
            targets: Per image, ``labels`` (M,) long and ``masks`` (M, H, W)
                at the padded input size.

        Returns:
            Named losses (``loss_cls``, ``loss_mask``, ``loss_dice`` and
            ``d{i}.*`` for the earlier stages).
        """
        cls_preds, mask_preds = self(feats)
        return self.criterion(cls_preds, mask_preds, targets)
