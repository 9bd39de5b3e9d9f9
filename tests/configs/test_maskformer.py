"""The MaskFormer baseline configs build MaskFormer from m2f_mm's pieces, at the paper's size.

Parameter counts: the pixel decoder and the transformer decoder against a count derived
here from MaskFormer's architecture, the whole model against the MaskFormer paper (R50:
45M with the 6-layer Transformer encoder on COCO panoptic, 41M with the FPN on ADE20K).
"""
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from m2f_mm.models import FPNPixelDecoder, TransformerEncoderPixelDecoder
from tests.configs.test_model_zoo import ADE20K, COCO_PANOPTIC, _count, _linear, _rounded

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'maskformer')
RESNET = [256, 512, 1024, 2048]
CONFIGS = {
    # config: (classes, pixel decoder, published parameters)
    'maskformer_r50_ms-16xb1-75e_coco-panoptic.py': (COCO_PANOPTIC, TransformerEncoderPixelDecoder,
                                                     45e6),
    'maskformer_r50-d32_8xb2-160k_ade20k-512x512.py': (ADE20K, FPNPixelDecoder, 41e6),
}


def fpn_params(in_channels, d=256, encoder_layers=0, ffn=2048):
    """MaskFormer's pixel decoder: FPN, optionally with a Transformer encoder on res5."""
    norm = 2 * d
    laterals = sum(c * d + norm for c in in_channels[:-1])  # 1x1 without bias + GN
    outputs = 3 * (9 * d * d + norm)  # 3x3 without bias + GN, res2..res4
    mask_features = 9 * d * d + d  # 3x3 with bias
    if encoder_layers:
        layer = 4 * _linear(d, d) + norm + _linear(d, ffn) + _linear(ffn, d) + norm
        top = _linear(in_channels[-1], d) + encoder_layers * layer + 9 * d * d + norm
    else:
        top = 9 * in_channels[-1] * d + norm
    return laterals + outputs + mask_features + top


def standard_decoder_params(num_queries, num_classes, d=256, ffn=2048, layers=6):
    """DETR's decoder as MaskFormer uses it: no query features, no level embedding."""
    norm = 2 * d
    attention = 4 * _linear(d, d) + norm
    layer = 2 * attention + _linear(d, ffn) + _linear(ffn, d) + norm
    prediction_head = norm + _linear(d, num_classes + 1) + 3 * _linear(d, d)
    return layers * layer + num_queries * d + prediction_head


def test_every_config_is_checked():
    assert set(CONFIGS) == set(os.listdir(CONFIG_DIR)) - {'__pycache__'}


@pytest.mark.parametrize('name', list(CONFIGS))
def test_maskformer_configs_build_the_papers_model(name):
    num_classes, pixel_decoder, published = CONFIGS[name]
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    head = getattr(model, 'panoptic_head', None) or model.decode_head
    assert type(head.pixel_decoder) is pixel_decoder
    encoder_layers = 6 if pixel_decoder is TransformerEncoderPixelDecoder else 0
    assert _count(head.pixel_decoder) == fpn_params(RESNET, encoder_layers=encoder_layers)
    assert _count(head.predictor) == standard_decoder_params(100, num_classes)
    assert _rounded(_count(model), 1e6) == published, _count(model)

    decoder = head.predictor
    assert (decoder.num_layers, decoder.num_feature_levels, decoder.masked_attention,
            decoder.cross_attention_first, decoder.query_feat, decoder.dropout,
            decoder.initial_prediction) == (6, 1, False, False, None, 0.1, False)
    criterion = head.criterion
    assert (criterion.cls_loss_weight, criterion.mask_loss, criterion.mask_loss_weight,
            criterion.dice_loss_weight, criterion.point_sampled) == (1.0, 'focal', 20.0, 1.0,
                                                                     False)
    assert criterion.empty_weight[-1] == pytest.approx(0.1)
    matcher = criterion.matcher
    assert (matcher.cost_class, matcher.mask_cost, matcher.cost_mask, matcher.cost_dice,
            matcher.point_sampled) == (1.0, 'focal', 20.0, 1.0, False)
