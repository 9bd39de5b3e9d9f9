"""Every ablation switch (the README's table) builds, trains a step and predicts.

What each switch changes is tested where it lives: tests/models/test_transformer_decoder.py,
test_criterion.py, test_matcher.py and test_fpn_pixel_decoder.py.
"""
import pytest
import torch

from tests.adapters._small_models import build_detector
from tests.adapters.test_det import H, W, _data

FPN = dict(type='FPNPixelDecoder', num_groups=8)
ENCODER = dict(type='TransformerEncoderPixelDecoder', num_groups=8, num_layers=1,
               ffn_channels=64, num_heads=4)
ABLATIONS = {
    'no masked attention': {'transformer_decoder.masked_attention': False},
    'single scale 1/32': {'transformer_decoder.single_scale_level': 0},
    'single scale 1/8': {'transformer_decoder.single_scale_level': 2},
    'self-attention first': {'transformer_decoder.cross_attention_first': False},
    'zero query features': {'transformer_decoder.learnable_query_features': False},
    'dropout': {'transformer_decoder.dropout': 0.1},
    'match masks, loss masks': {'criterion.matcher': dict(point_sampled=False),
                                'criterion.point_sampled': False},
    'match masks, loss points': {'criterion.matcher': dict(point_sampled=False)},
    'match points, loss masks': {'criterion.point_sampled': False},
    'uniform sampling': {'criterion.importance_sample_ratio': 0.0},
    'focal mask loss': {'criterion.mask_loss': 'focal'},
    'class weights': {'criterion.class_weight': [1.0, 2.0, 1.0, 0.5, 1.0, 0.1]},
    'FPN pixel decoder': {'pixel_decoder': FPN},
    'Transformer-encoder pixel decoder': {'pixel_decoder': ENCODER},
}


def _module_value(head, dotted):
    """The built module's setting for a head config key."""
    names = {'transformer_decoder': 'predictor', 'matcher': 'matcher'}
    node = head
    for key in dotted.split('.'):
        node = getattr(node, names.get(key, key))
    return node


@pytest.mark.parametrize('settings', ABLATIONS.values(), ids=list(ABLATIONS))
def test_ablation_builds_trains_and_predicts(settings):
    torch.manual_seed(0)
    model = build_detector(head_settings=settings)
    model.init_weights()
    head = model.panoptic_head
    for dotted, value in settings.items():
        if dotted == 'pixel_decoder':
            assert type(head.pixel_decoder).__name__ == value['type']
        elif dotted == 'criterion.matcher':
            assert head.criterion.matcher.point_sampled is False
        elif dotted == 'criterion.class_weight':
            assert head.criterion.empty_weight.tolist() == pytest.approx(value)
        elif dotted == 'transformer_decoder.learnable_query_features':
            assert head.predictor.query_feat is None
        else:
            assert _module_value(head, dotted) == value

    losses = model(**model.data_preprocessor(_data(), training=True), mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert head.predictor.class_embed.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        results = model.test_step(_data(with_gt=False))
    assert results[0].pred_panoptic_seg.sem_seg.shape == (1, 2 * H, 2 * W)
    assert results[0].pred_sem_seg.sem_seg.shape == (1, 2 * H, 2 * W)
