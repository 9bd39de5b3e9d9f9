"""Tests of the Mask2Former pixel decoder."""
import pytest
import torch
from mmengine.config import ConfigDict

from m2f_mm.converters.mmdet_keys import pixel_decoder_key_map
from m2f_mm.models.pixel_decoder import MSDeformAttnPixelDecoder
from m2f_mm.registry import MODELS
from tests.models._checks import assert_gradients_reach_every_parameter

SMALL = dict(in_channels=[8, 16, 24, 32], strides=[4, 8, 16, 32], embed_dims=32,
             mask_channels=16, num_layers=2, num_heads=4, num_points=2, ffn_channels=48,
             num_groups=4)


def _decoder(**overrides):
    """A small decoder, initialised as a Runner would (init_weights)."""
    decoder = MSDeformAttnPixelDecoder(**{**SMALL, **overrides})
    decoder.init_weights()
    return decoder


def _features(in_channels, strides, image_hw, batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h, w = image_hw
    return [torch.randn(batch, c, -(-h // s), -(-w // s), generator=gen)
            for c, s in zip(in_channels, strides)]


def test_registered_in_plugin_scope():
    assert MODELS.get('MSDeformAttnPixelDecoder') is MSDeformAttnPixelDecoder


def test_output_shapes_non_square_not_multiple_of_32():
    decoder = _decoder()
    mask_features, multi_scale = decoder(_features(SMALL['in_channels'], SMALL['strides'],
                                                   (200, 264)))
    assert mask_features.shape == (2, 16, 50, 66)
    # Stored pixel-major on CPU, for the mask products that read it (layers.mask_product).
    assert mask_features.is_contiguous(memory_format=torch.channels_last)
    assert [tuple(f.shape) for f in multi_scale] == [(2, 32, 7, 9), (2, 32, 13, 17),
                                                     (2, 32, 25, 33)]


def test_reference_layout_parameter_names():
    decoder = _decoder()
    shapes = {k: tuple(v.shape) for k, v in decoder.state_dict().items()}
    expected = {
        'input_proj.0.0.weight': (32, 32, 1, 1),  # index 0 is the coarsest level (res5)
        'input_proj.0.0.bias': (32,),
        'input_proj.0.1.weight': (32,),
        'input_proj.2.0.weight': (32, 16, 1, 1),
        'transformer.level_embed': (3, 32),
        'transformer.encoder.layers.1.self_attn.sampling_offsets.weight': (4 * 3 * 2 * 2, 32),
        'transformer.encoder.layers.1.self_attn.attention_weights.bias': (4 * 3 * 2,),
        'transformer.encoder.layers.1.self_attn.value_proj.weight': (32, 32),
        'transformer.encoder.layers.1.self_attn.output_proj.weight': (32, 32),
        'transformer.encoder.layers.1.linear1.weight': (48, 32),
        'transformer.encoder.layers.1.linear2.weight': (32, 48),
        'transformer.encoder.layers.1.norm1.weight': (32,),
        'transformer.encoder.layers.1.norm2.bias': (32,),
        'adapter_1.weight': (32, 8, 1, 1),
        'adapter_1.norm.weight': (32,),
        'layer_1.weight': (32, 32, 3, 3),
        'layer_1.norm.bias': (32,),
        'mask_features.weight': (16, 32, 1, 1),
        'mask_features.bias': (16,),
    }
    for name, shape in expected.items():
        assert shapes.get(name) == shape, name
    assert 'adapter_1.bias' not in shapes and 'layer_1.bias' not in shapes
    assert not any('layers.2.' in name for name in shapes)


def test_init():
    torch.manual_seed(0)
    decoder = _decoder()
    for layer in decoder.transformer.encoder.layers:
        # The attention's own init wins over the encoder-wide xavier init.
        assert not layer.self_attn.sampling_offsets.weight.any()
        assert not layer.self_attn.attention_weights.weight.any()
        assert layer.linear1.weight.abs().max() <= (6 / (32 + 48)) ** 0.5
    assert 0.5 < decoder.transformer.level_embed.std() < 1.5
    assert not decoder.input_proj[0][0].bias.any()
    assert not decoder.mask_features.bias.any()


def test_finite_before_init_weights():
    # A checkpoint saved from a model built without the Runner must not carry garbage memory.
    decoder = MSDeformAttnPixelDecoder(**SMALL)
    assert all(p.isfinite().all() for p in decoder.parameters())
    assert not decoder.transformer.level_embed.any()


def test_float32_under_bfloat16_autocast():
    decoder = _decoder()
    feats = [f.bfloat16() for f in _features(SMALL['in_channels'], SMALL['strides'], (64, 96))]
    expected = decoder([f.float() for f in feats])
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = decoder(feats)
    for got, want in zip([out[0], *out[1]], [expected[0], *expected[1]]):
        assert got.dtype == torch.float32 and torch.isfinite(got).all()
        torch.testing.assert_close(got, want, atol=0, rtol=0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    decoder = _decoder()
    with torch.no_grad():
        # At init the queries (hence the position embeddings) have no effect:
        # offsets and attention logits start with zero weights.
        for layer in decoder.transformer.encoder.layers:
            for linear in (layer.self_attn.sampling_offsets, layer.self_attn.attention_weights):
                linear.weight.normal_(std=0.01)
    mask_features, multi_scale = decoder(_features(SMALL['in_channels'], SMALL['strides'],
                                                   (64, 96)))
    assert_gradients_reach_every_parameter(decoder, [mask_features, *multi_scale])


@pytest.mark.parametrize('kwargs, argument', [
    (dict(in_channels=[8, 16, 24, 32], strides=[8, 16, 32]), 'strides'),
    (dict(in_channels=[16, 24, 32], strides=[8, 16, 32]), 'in_channels'),
    (dict(in_channels=[8, 16, 24, 32], strides=[4, 16, 8, 32]), 'strides'),
])
def test_inconsistent_arguments_raise(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        MSDeformAttnPixelDecoder(**{**SMALL, **kwargs})


def test_wrong_number_of_features_raises():
    decoder = _decoder()
    with pytest.raises(ValueError, match='in_channels'):
        decoder(_features(SMALL['in_channels'], SMALL['strides'], (64, 96))[1:])


def _mmdet_r50_pixel_decoder():
    from mmdet.models.layers import MSDeformAttnPixelDecoder as MMDetPixelDecoder
    return MMDetPixelDecoder(
        in_channels=[256, 512, 1024, 2048], strides=[4, 8, 16, 32], feat_channels=256,
        out_channels=256, num_outs=3, norm_cfg=dict(type='GN', num_groups=32),
        act_cfg=dict(type='ReLU'),
        encoder=ConfigDict(num_layers=6, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=256, num_heads=8, num_levels=3, num_points=4,
                               dropout=0.0, batch_first=True),
            ffn_cfg=dict(embed_dims=256, feedforward_channels=1024, num_fcs=2, ffn_drop=0.0,
                         act_cfg=dict(type='ReLU', inplace=True)))),
        positional_encoding=dict(num_feats=128, normalize=True))


@pytest.mark.filterwarnings('ignore:torch.meshgrid')  # raised inside mmdet
def test_matches_mmdet_pixel_decoder():
    torch.manual_seed(0)
    ref = _mmdet_r50_pixel_decoder()
    ref.init_weights()
    with torch.no_grad():
        for param in ref.parameters():  # so that every weight, GN and LN included, matters
            param.add_(torch.randn_like(param) * 0.05)
    ours = MSDeformAttnPixelDecoder(in_channels=[256, 512, 1024, 2048], strides=[4, 8, 16, 32],
                                    embed_dims=256, mask_channels=256)
    ours.load_state_dict(pixel_decoder_key_map(ref.state_dict()), strict=True)
    feats = _features([256, 512, 1024, 2048], [4, 8, 16, 32], (64, 96))
    with torch.no_grad():
        expected_mask, expected_multi = ref(feats)
        mask_features, multi_scale = ours(feats)
    assert mask_features.shape == expected_mask.shape == (2, 256, 16, 24)
    for got, want in zip([mask_features, *multi_scale], [expected_mask, *expected_multi]):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_key_map_rejects_unknown_keys():
    with pytest.raises(KeyError, match='encoder.layers.0.extra.weight'):
        pixel_decoder_key_map({'mask_feature.bias': torch.zeros(1),
                               'encoder.layers.0.extra.weight': torch.zeros(1)})
