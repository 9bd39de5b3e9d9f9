"""Small host models around m2f_mm's head, for fast adapter tests (ResNet-18, narrow head)."""
import copy

from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope, MODELS

SMALL_HEAD = dict(
    in_channels=[64, 128, 256, 512], strides=[4, 8, 16, 32], num_queries=12,
    embed_dims=32, mask_channels=32,
    pixel_decoder=dict(type='MSDeformAttnPixelDecoder', num_layers=1, num_heads=4,
                       ffn_channels=64),
    transformer_decoder=dict(type='MaskedAttentionDecoder', num_heads=4, ffn_channels=64,
                             num_layers=3),
    criterion=dict(type='Mask2FormerCriterion', num_points=256))
BACKBONE = dict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
                norm_cfg=dict(type='BN', requires_grad=True), style='pytorch')
MEAN_STD = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)


def small_head(settings=None):
    """SMALL_HEAD with ``{'dotted.key': value}`` settings applied, like --cfg-options."""
    head = copy.deepcopy(SMALL_HEAD)
    for dotted, value in (settings or {}).items():
        *parents, last = dotted.split('.')
        node = head
        for key in parents:
            node = node[key]
        node[last] = value
    return head


def build_detector(num_things=3, num_stuff=2, fusion_overrides=None, head_settings=None,
                   **test_cfg):
    """A Mask2FormerDetector built in mmdet's scope, like a config would; the class
    counts are given once, to the panoptic head."""
    test_cfg = dict(dict(panoptic_on=True, semantic_on=True, instance_on=True), **test_cfg)
    cfg = dict(
        type='m2f_mm.Mask2FormerDetector',
        data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32, pad_mask=True,
                               pad_seg=True, seg_pad_value=255, **MEAN_STD),
        backbone=BACKBONE,
        panoptic_head=dict(type='Mask2FormerDetHead', num_things_classes=num_things,
                           num_stuff_classes=num_stuff, **small_head(head_settings)),
        panoptic_fusion_head=dict(type='Mask2FormerFusionHead', **(fusion_overrides or {})),
        train_cfg=None, test_cfg=test_cfg)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def build_segmentor(num_classes=4):
    """mmseg's stock EncoderDecoder with m2f_mm's head as decode_head."""
    cfg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size_divisor=32, pad_val=0,
                               seg_pad_val=255, **MEAN_STD),
        backbone=dict(BACKBONE, type='mmdet.ResNet'),
        decode_head=dict(type='m2f_mm.Mask2FormerDecodeHead', num_classes=num_classes,
                         **copy.deepcopy(SMALL_HEAD)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(ConfigDict(cfg))  # mmseg reads test_cfg.mode as an attribute
