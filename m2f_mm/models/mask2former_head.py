"""The host-independent Mask2Former head: pixel decoder + masked-attention decoder + losses.

Shape letters: B batch, Q queries, K classes (K + 1 logits, the last is
"no object"), M target masks of an image, H x W padded input size,
h x w = H/4 x W/4 per-pixel embedding size.

This module imports neither mmdet nor mmseg; the adapters in
``m2f_mm.models.adapters`` plug it into each host library.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from m2f_mm.registry import MODELS, build_in_plugin_scope
from .transformer_decoder import MaskedAttentionDecoder

__all__ = ['Mask2FormerHead']


@MODELS.register_module()
class Mask2FormerHead(BaseModule):
    """Mask2Former head over backbone features of any channels and strides.

    Args:
        in_channels: Channels of each backbone level, increasing stride.
        strides: Stride of each backbone level.
        num_classes: K.
        num_queries: Q.
        feat_channels: Width of the pixel decoder and the transformer decoder.
        out_channels: Channels of the per-pixel (mask) embedding.
        pixel_decoder: Config of the pixel decoder; ``in_channels``,
            ``strides``, ``feat_channels`` and ``out_channels`` are filled in.
        transformer_decoder: Keyword arguments of :class:`MaskedAttentionDecoder`
            other than the sizes above (num_heads, ffn_channels, num_layers, ...).
        criterion: Config of the loss; ``num_classes`` is filled in.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 strides: Sequence[int],
                 num_classes: int,
                 num_queries: int = 100,
                 feat_channels: int = 256,
                 out_channels: int = 256,
                 pixel_decoder: dict = dict(type='MSDeformAttnPixelDecoder'),
                 transformer_decoder: Optional[dict] = None,
                 criterion: dict = dict(type='Mask2FormerCriterion'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.num_queries = num_queries
        pixel_decoder = copy.deepcopy(dict(pixel_decoder))
        pixel_decoder.update(in_channels=list(in_channels), strides=list(strides),
                             feat_channels=feat_channels, out_channels=out_channels)
        self.pixel_decoder = build_in_plugin_scope(pixel_decoder)
        self.predictor = MaskedAttentionDecoder(
            num_classes=num_classes, in_channels=feat_channels, hidden_dim=feat_channels,
            mask_dim=out_channels, num_queries=num_queries, **(transformer_decoder or {}))
        self.criterion = build_in_plugin_scope(dict(criterion, num_classes=num_classes))

    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Predict classes and masks at every decoder stage.

        Args:
            feats: Backbone maps (B, C_i, H_i, W_i), increasing stride.

        Returns:
            Class logits (B, Q, K + 1) and mask logits (B, Q, h, w) of each
            stage, the final prediction last.
        """
        mask_features, multi_scale_features = self.pixel_decoder(feats)
        return self.predictor(multi_scale_features, mask_features)

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
