"""Tests of MaskFormer's FPN and transformer-encoder pixel decoders."""
import pytest
import torch
import torch.nn.functional as F

from m2f_mm.models.fpn_pixel_decoder import FPNPixelDecoder, TransformerEncoderPixelDecoder
from m2f_mm.registry import MODELS
from tests.models._checks import assert_gradients_reach_every_parameter

SMALL = dict(in_channels=[8, 16, 24, 32], strides=[4, 8, 16, 32], embed_dims=32,
             mask_channels=16, num_groups=4)
ENCODER = dict(num_layers=2, num_heads=4, ffn_channels=48)
R50 = dict(in_channels=[256, 512, 1024, 2048], strides=[4, 8, 16, 32], embed_dims=256,
           mask_channels=256)


def _decoder(cls=FPNPixelDecoder, **overrides):
    """A small decoder, initialised as a Runner would (init_weights)."""
    torch.manual_seed(0)
    extra = ENCODER if cls is TransformerEncoderPixelDecoder else {}
    decoder = cls(**{**SMALL, **extra, **overrides})
    decoder.init_weights()
    return decoder


def _features(image_hw=(64, 96), in_channels=SMALL['in_channels'], strides=SMALL['strides'],
              batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    h, w = image_hw
    return [torch.randn(batch, c, -(-h // s), -(-w // s), generator=gen)
            for c, s in zip(in_channels, strides)]


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('cls', [FPNPixelDecoder, TransformerEncoderPixelDecoder])
def test_registered_in_plugin_scope(cls):
    assert MODELS.get(cls.__name__) is cls


@pytest.mark.parametrize('cls', [FPNPixelDecoder, TransformerEncoderPixelDecoder])
@pytest.mark.parametrize('num_outs', [1, 3])
def test_output_shapes_non_square_not_multiple_of_32(cls, num_outs):
    decoder = _decoder(cls, num_outs=num_outs)
    mask_features, multi_scale = decoder(_features((200, 264)))
    assert mask_features.shape == (2, 16, 50, 66)
    coarsest_first = [(2, 32, 7, 9), (2, 32, 13, 17), (2, 32, 25, 33)]
    assert [tuple(f.shape) for f in multi_scale] == coarsest_first[:num_outs]


def _fpn_param_count(in_channels, c, e, coarsest_in):
    """Analytic count: the 3x3 output convs (the coarsest reads ``coarsest_in``
    channels), the 1x1 laterals, each conv without bias and with a GroupNorm
    (2C), and the 3x3 mask-feature conv with bias."""
    conv_gn = lambda cin, k: cin * c * k * k + 2 * c  # noqa: E731
    laterals = sum(conv_gn(cin, 1) for cin in in_channels[:-1])
    outputs = conv_gn(coarsest_in, 3) + (len(in_channels) - 1) * conv_gn(c, 3)
    return laterals + outputs + c * e * 9 + e


def test_fpn_parameter_count_at_r50_sizes():
    with torch.device('meta'):
        decoder = FPNPixelDecoder(**R50)
    c, in_channels = R50['embed_dims'], R50['in_channels']
    expected = _fpn_param_count(in_channels, c, R50['mask_channels'], in_channels[-1])
    assert _num_params(decoder) == expected
    assert round(expected / 1e6, 2) == 7.54


def test_transformer_encoder_parameter_count_at_r50_sizes():
    with torch.device('meta'):
        decoder = TransformerEncoderPixelDecoder(**R50)  # 6 layers, FFN 2048
    c, f, in_channels = R50['embed_dims'], 2048, R50['in_channels']
    input_proj = in_channels[-1] * c + c
    # attention (in/out projections with bias), LN, FFN (two linears with bias), LN
    layer = (4 * c * c + 4 * c) + 2 * c + (c * f + f + f * c + c) + 2 * c
    fpn = _fpn_param_count(in_channels, c, R50['mask_channels'], c)
    expected = input_proj + 6 * layer + fpn
    assert _num_params(decoder) == expected
    assert round(expected / 1e6, 2) == 11.83


def test_reference_layout_parameter_names():
    shapes = {k: tuple(v.shape) for k, v in _decoder().state_dict().items()}
    assert shapes['layer_4.weight'] == (32, 32, 3, 3)  # the coarsest level (res5) has no lateral
    assert shapes['adapter_1.weight'] == (32, 8, 1, 1)
    assert shapes['adapter_1.norm.weight'] == (32,)
    assert shapes['layer_1.norm.bias'] == (32,)
    assert shapes['mask_features.weight'] == (16, 32, 3, 3)
    assert shapes['mask_features.bias'] == (16,)
    assert 'adapter_4.weight' not in shapes and 'layer_5.weight' not in shapes
    assert not any(k in shapes for k in ('adapter_1.bias', 'layer_1.bias', 'layer_4.bias'))
    shapes = {k: tuple(v.shape)
              for k, v in _decoder(TransformerEncoderPixelDecoder).state_dict().items()}
    assert shapes['input_proj.weight'] == (32, 32, 1, 1)
    assert shapes['layer_4.weight'] == (32, 32, 3, 3)  # reads the encoder's C channels
    assert shapes['transformer.layers.1.ffn.linear1.weight'] == (48, 32)
    assert 'transformer.layers.2.ffn.linear1.weight' not in shapes


def test_init():
    decoder = _decoder(TransformerEncoderPixelDecoder)
    # The bounds are sqrt(3) (convs) and 1.55 (linear1) times torch's defaults.
    for conv in (decoder.adapter_1, decoder.layer_4, decoder.mask_features, decoder.input_proj):
        bound = (3 / conv.weight[0].numel()) ** 0.5  # kaiming_uniform_, a=1
        assert 0.9 * bound < conv.weight.abs().max() <= bound
    assert not decoder.mask_features.bias.any() and not decoder.input_proj.bias.any()
    linear1 = decoder.transformer.layers[0].ffn.linear1.weight
    bound = (6 / (32 + 48)) ** 0.5  # xavier_uniform_
    assert 0.9 * bound < linear1.abs().max() <= bound


def test_changing_the_coarsest_input_changes_mask_features():
    decoder = _decoder().eval()
    feats = _features()
    changed = feats[:-1] + [feats[-1] + 1]
    with torch.no_grad():
        before, after = decoder(feats)[0], decoder(changed)[0]
    # Nearest upsampling spreads every coarse pixel over the whole finest map.
    assert ((before - after).abs().sum(1) > 0).all()


def test_multi_scale_features_are_the_fpn_outputs():
    decoder = _decoder(num_outs=3)
    feats = _features()
    with torch.no_grad():
        mask_features, multi_scale = decoder(feats)
        y4 = decoder.layer_4(feats[3])
        y3 = decoder.layer_3(decoder.adapter_3(feats[2]) + F.interpolate(y4, scale_factor=2))
        y2 = decoder.layer_2(decoder.adapter_2(feats[1]) + F.interpolate(y3, scale_factor=2))
        y1 = decoder.layer_1(decoder.adapter_1(feats[0]) + F.interpolate(y2, scale_factor=2))
    for got, want in zip(multi_scale, [y4, y3, y2]):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(mask_features, decoder.mask_features(y1))


def _encode_by_hand(decoder, x):
    """The encoder recomputed from its submodules: (B, C_3, h, w) -> (B, C, h, w)."""
    src = decoder.input_proj(x)
    b, c, h, w = src.shape
    pos = decoder.transformer.position_encoding(src).flatten(2).transpose(1, 2)
    tokens = src.flatten(2).transpose(1, 2)
    for layer in decoder.transformer.layers:
        tokens = layer.ffn(layer.self_attn(tokens, pos))
    return tokens.transpose(1, 2).reshape(b, c, h, w)


def test_coarsest_multi_scale_feature_is_the_encoder_output():
    decoder = _decoder(TransformerEncoderPixelDecoder, num_outs=2).eval()
    feats = _features()
    with torch.no_grad():
        _, multi_scale = decoder(feats)
        encoded = _encode_by_hand(decoder, feats[3])
        y3 = decoder.layer_3(decoder.adapter_3(feats[2])
                             + F.interpolate(decoder.layer_4(encoded), scale_factor=2))
    torch.testing.assert_close(multi_scale[0], encoded)
    torch.testing.assert_close(multi_scale[1], y3)


def test_dropout_only_in_train_mode():
    decoder = _decoder(TransformerEncoderPixelDecoder, dropout=0.1)
    feats = _features()
    with torch.no_grad():
        decoder.eval()
        torch.testing.assert_close(decoder(feats)[0], decoder(feats)[0], atol=0, rtol=0)
        decoder.train()
        assert not torch.equal(decoder(feats)[0], decoder(feats)[0])


def test_encoder_uses_the_position_encoding():
    """Without positions the encoder commutes with a permutation of the pixels;
    the sine encoding breaks that."""
    decoder = _decoder(TransformerEncoderPixelDecoder).eval()
    x = decoder.input_proj(_features()[3])
    flipped_back = lambda: decoder.transformer(x.flip(-1)).flip(-1)  # noqa: E731
    with torch.no_grad():
        assert not torch.allclose(flipped_back(), decoder.transformer(x), atol=1e-3)
        decoder.transformer.position_encoding.scale = 0.0  # the same encoding at every pixel
        torch.testing.assert_close(flipped_back(), decoder.transformer(x))


@pytest.mark.parametrize('cls', [FPNPixelDecoder, TransformerEncoderPixelDecoder])
def test_gradients_reach_every_parameter(cls):
    decoder = _decoder(cls)
    mask_features, multi_scale = decoder(_features())
    assert_gradients_reach_every_parameter(decoder, [mask_features, *multi_scale])


def test_float32_under_bfloat16_autocast():
    decoder = _decoder(TransformerEncoderPixelDecoder).eval()
    feats = [f.bfloat16() for f in _features()]
    with torch.no_grad():
        expected = decoder([f.float() for f in feats])
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = decoder(feats)
    for got, want in zip([out[0], *out[1]], [expected[0], *expected[1]]):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize('cls', [FPNPixelDecoder, TransformerEncoderPixelDecoder])
@pytest.mark.parametrize('kwargs, argument', [
    (dict(in_channels=[8, 16, 24, 32], strides=[8, 16, 32]), 'strides'),
    (dict(in_channels=[16, 24, 32], strides=[4, 8, 16, 32]), 'in_channels'),
    (dict(strides=[4, 16, 8, 32]), 'strides'),
    (dict(num_outs=0), 'num_outs'),
    (dict(num_outs=5), 'num_outs'),
    (dict(in_channels=[], strides=[], num_outs=1), 'num_outs'),
])
def test_bad_arguments_raise(cls, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        cls(**{**SMALL, **kwargs})


def test_wrong_number_of_features_raises():
    with pytest.raises(ValueError, match='in_channels'):
        _decoder()(_features()[1:])


MASKFORMER_DECODER = dict(num_feature_levels=1, masked_attention=False,
                          cross_attention_first=False, learnable_query_features=False,
                          dropout=0.1, initial_prediction=False, num_layers=6)


@pytest.mark.parametrize('pixel_decoder, decoder_overrides', [
    (dict(type='FPNPixelDecoder', num_groups=4), {}),
    (dict(type='TransformerEncoderPixelDecoder', num_groups=4, num_outs=1, **ENCODER),
     MASKFORMER_DECODER),
])
def test_inside_mask2former_head(pixel_decoder, decoder_overrides):
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='Mask2FormerHead', in_channels=SMALL['in_channels'], strides=SMALL['strides'],
        num_classes=3, num_queries=5, embed_dims=32, mask_channels=32,
        pixel_decoder=pixel_decoder,
        transformer_decoder={**dict(type='MaskedAttentionDecoder', num_heads=4,
                                    ffn_channels=64, num_layers=3), **decoder_overrides},
        criterion=dict(type='Mask2FormerCriterion', num_points=64)))
    head.init_weights()
    feats = _features((60, 92))  # finest level 15 x 23
    h, w = 4 * feats[0].shape[-2], 4 * feats[0].shape[-1]
    targets = [dict(labels=torch.tensor([0, 2]), masks=torch.rand(2, h, w) > 0.5)] * 2
    losses = head.loss_by_targets(feats, targets)
    num_predictions = head.predictor.num_layers + head.predictor.initial_prediction
    assert len(losses) == 3 * num_predictions
    for name, value in losses.items():
        assert torch.isfinite(value).all(), name
    sum(losses.values()).backward()
    for name, param in head.pixel_decoder.named_parameters():
        assert param.grad is not None and param.grad.any(), name
