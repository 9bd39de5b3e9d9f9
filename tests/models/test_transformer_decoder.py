"""The masked-attention transformer decoder."""
import pytest
import torch
from torch import nn

from m2f_mm.models.mask2former_head import Mask2FormerHead
from m2f_mm.models.transformer_decoder import MaskedAttentionDecoder

SIZES = [(3, 4), (6, 8), (12, 16)]


def _inputs(batch=2, channels=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(batch, channels, h, w, generator=g) for h, w in SIZES]
    mask_features = torch.randn(batch, channels, 24, 32, generator=g)
    return feats, mask_features


def _decoder(**kwargs):
    torch.manual_seed(0)
    args = dict(num_classes=5, in_channels=32, embed_dims=32, mask_channels=32, num_queries=6,
                num_heads=4, ffn_channels=64)
    args.update(kwargs)
    decoder = MaskedAttentionDecoder(**args)
    decoder.init_weights()
    return decoder.eval()


def test_ten_predictions_with_shapes():
    feats, mask_features = _inputs()
    cls_preds, mask_preds = _decoder()(mask_features, feats)
    assert len(cls_preds) == len(mask_preds) == 10
    for cls_pred, mask_pred in zip(cls_preds, mask_preds):
        assert cls_pred.shape == (2, 6, 6)
        assert mask_pred.shape == (2, 6, 24, 32)


def test_reference_layout_and_defaults():
    # The defaults a user gets: the R50 head's decoder.
    decoder = Mask2FormerHead(in_channels=[256, 512, 1024, 2048], strides=[4, 8, 16, 32],
                              num_classes=133).predictor
    names = set(dict(decoder.named_parameters()))
    for expected in ['query_feat.weight', 'query_embed.weight', 'level_embed.weight',
                     'transformer_self_attention_layers.8.self_attn.in_proj_weight',
                     'transformer_self_attention_layers.0.norm.weight',
                     'transformer_cross_attention_layers.8.multihead_attn.out_proj.weight',
                     'transformer_ffn_layers.8.linear1.weight', 'transformer_ffn_layers.8.norm.bias',
                     'decoder_norm.weight', 'class_embed.weight', 'mask_embed.layers.2.bias']:
        assert expected in names
    assert decoder.class_embed.out_features == 134
    assert decoder.query_feat.num_embeddings == 100
    assert len(decoder.transformer_ffn_layers) == 9
    assert decoder.transformer_ffn_layers[0].linear1.out_features == 2048
    # The widths match, so there is no input projection, like the reference.
    assert not any(n.startswith('input_proj') for n in names)
    attns = [m for m in decoder.modules() if isinstance(m, nn.MultiheadAttention)]
    assert len(attns) == 18 and all(a.dropout == 0.0 and a.num_heads == 8 for a in attns)
    assert all(m.p == 0.0 for m in decoder.modules() if isinstance(m, nn.Dropout))


def test_cross_attention_ignores_memory_outside_the_mask():
    decoder = _decoder(num_layers=1)
    feats, mask_features = _inputs(batch=1)
    captured = []
    layer = decoder.transformer_cross_attention_layers[0]
    layer.register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    with torch.no_grad():
        decoder(mask_features, feats)
        # Layer 0 attends to level 0 through the mask of the prediction made
        # from the learnable queries, resized to level 0's size.
        _, first_masks = decoder(mask_features, feats)
    first = first_masks[0][0]  # (Q, h, w)
    resized = torch.nn.functional.interpolate(first[None], size=SIZES[0], mode='bilinear',
                                              align_corners=False)[0]
    allowed = resized.sigmoid() >= 0.5  # (Q, 3, 4)
    counts = allowed.flatten(1).sum(1)
    partial = ((counts > 0) & (counts < counts.new_tensor(12))).nonzero().flatten()
    assert partial.numel() > 0, 'need a query with a partial mask'
    query = int(partial[0])
    changed = [f.clone() for f in feats]
    changed[0][0, :, ~allowed[query]] += 10.0
    with torch.no_grad():
        decoder(mask_features, changed)
    before, after = captured[0][0], captured[-1][0]
    torch.testing.assert_close(after[query], before[query], rtol=0, atol=1e-5)
    # Queries allowed to see the changed cells do change.
    sees_change = (allowed & ~allowed[query]).flatten(1).any(1)
    assert sees_change.any()
    assert (after[sees_change] - before[sees_change]).abs().max() > 1e-3


def test_all_masked_query_attends_everywhere():
    decoder = _decoder()
    feats, _ = _inputs()
    # Every mask logit negative: every query's mask is empty.
    mask_features = torch.zeros(2, 32, 24, 32)
    decoder.mask_embed.layers[2].bias.data.fill_(0.0)
    decoder.mask_embed.layers[2].weight.data.fill_(0.0)
    cls_preds, mask_preds = decoder(mask_features - 1.0, feats)
    assert all(torch.isfinite(c).all() for c in cls_preds)
    _, _, attn_mask = decoder._predict(torch.zeros(2, 6, 32), mask_features - 1.0, SIZES[0])
    assert attn_mask.shape == (2, 6, 12) and not attn_mask.any()


def test_attention_mask_is_detached_and_thresholded_at_half():
    decoder = _decoder()
    _, mask_features = _inputs()
    query = torch.randn(2, 6, 32, requires_grad=True)
    _, mask_pred, attn_mask = decoder._predict(query, mask_features, SIZES[2])
    assert mask_pred.requires_grad and not attn_mask.requires_grad
    resized = torch.nn.functional.interpolate(mask_pred.detach(), size=SIZES[2],
                                              mode='bilinear', align_corners=False)
    expected = (resized.sigmoid() < 0.5).flatten(2)
    expected &= ~expected.all(-1, keepdim=True)
    torch.testing.assert_close(attn_mask, expected)  # one mask per image, for every head


def test_wrong_number_of_levels_is_reported():
    feats, mask_features = _inputs()
    with pytest.raises(ValueError, match='expects 3 feature levels, got 2'):
        _decoder()(mask_features, feats[:2])


# The ablation switches (Mask2Former Table 4). Each test checks what the switch does
# and that the decoder is otherwise the same one.


def _record_calls(decoder):
    """Per call of a decoder layer's attention or FFN: (kind, layer index, args)."""
    calls = []
    for kind, layers in (('cross', decoder.transformer_cross_attention_layers),
                         ('self', decoder.transformer_self_attention_layers),
                         ('ffn', decoder.transformer_ffn_layers)):
        for i, layer in enumerate(layers):
            layer.register_forward_pre_hook(
                lambda module, args, kind=kind, i=i: calls.append((kind, i, args)))
    return calls


def _same_parameters(decoder, reference):
    """The switched decoder loads the default decoder's checkpoint as is."""
    decoder.load_state_dict(reference.state_dict(), strict=True)


def test_masked_attention_off_gives_cross_attention_no_mask():
    feats, mask_features = _inputs()
    for masked in (True, False):
        decoder = _decoder(masked_attention=masked)
        _same_parameters(decoder, _decoder())
        calls = _record_calls(decoder)
        cls_preds, _ = decoder(mask_features, feats)
        masks = [args[4] for kind, _, args in calls if kind == 'cross']
        assert len(masks) == 9 and len(cls_preds) == 10
        if masked:
            assert all(m.dtype == torch.bool and m.any() for m in masks)
        else:
            assert all(m is None for m in masks)
    # The prediction from the learnable queries comes before any attention: unchanged.
    ref = _decoder()(mask_features, feats)
    off = _decoder(masked_attention=False)(mask_features, feats)
    assert torch.equal(ref[1][0], off[1][0]) and not torch.allclose(ref[1][-1], off[1][-1])


@pytest.mark.parametrize('level', [None, 0, 1, 2])
def test_single_scale_level_makes_every_layer_read_one_level(level):
    feats, mask_features = _inputs()
    decoder = _decoder(single_scale_level=level)
    _same_parameters(decoder, _decoder())
    calls = _record_calls(decoder)
    decoder(mask_features, feats)
    read = [args[2].shape[1] for kind, _, args in calls if kind == 'cross']
    areas = [h * w for h, w in SIZES]
    expected = [areas[i % 3] for i in range(9)] if level is None else [areas[level]] * 9
    assert read == expected
    # Each attention mask is made at the size of the level it restricts.
    assert [args[4].shape[-1] for kind, _, args in calls if kind == 'cross'] == expected


def test_single_scale_level_out_of_range_is_reported():
    with pytest.raises(ValueError, match=r'transformer_decoder.single_scale_level=3 .*'
                                         r'num_feature_levels=3'):
        _decoder(single_scale_level=3)


def test_cross_attention_first_switch_orders_the_layer():
    feats, mask_features = _inputs()
    for first in (True, False):
        decoder = _decoder(cross_attention_first=first)
        _same_parameters(decoder, _decoder())
        calls = _record_calls(decoder)
        decoder(mask_features, feats)
        order = [(kind, i) for kind, i, _ in calls]
        per_layer = ['cross', 'self', 'ffn'] if first else ['self', 'cross', 'ffn']
        assert order == [(kind, i) for i in range(9) for kind in per_layer]
        # Layer 0's first block reads the query features X0 either way.
        assert torch.equal(calls[0][2][0][0], decoder.query_feat.weight)


def test_zero_query_features_drop_the_parameter_and_start_from_zeros():
    feats, mask_features = _inputs()
    decoder = _decoder(learnable_query_features=False)
    reference = _decoder()
    keys = set(reference.state_dict())
    assert set(decoder.state_dict()) == keys - {'query_feat.weight'}
    calls = _record_calls(decoder)
    decoder(mask_features, feats)
    assert not calls[0][2][0].any()  # the first block's queries
    # The learnable query positions stay.
    assert torch.equal(calls[0][2][1][0], decoder.query_embed.weight)


def test_dropout_is_active_in_training_only():
    feats, mask_features = _inputs()
    decoder = _decoder(dropout=0.1)
    _same_parameters(decoder, _decoder())
    attns = [m for m in decoder.modules() if isinstance(m, nn.MultiheadAttention)]
    assert all(a.dropout == 0.1 for a in attns)
    dropouts = [m for m in decoder.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 27 and all(m.p == 0.1 for m in dropouts)
    with torch.no_grad():
        evals = [decoder.eval()(mask_features, feats)[1][-1] for _ in range(2)]
        trains = [decoder.train()(mask_features, feats)[1][-1] for _ in range(2)]
        defaults = [_decoder().train()(mask_features, feats)[1][-1] for _ in range(2)]
    assert torch.equal(*evals) and not torch.allclose(*trains) and torch.equal(*defaults)


def test_no_initial_prediction_drops_only_the_first_prediction():
    feats, mask_features = _inputs()
    decoder = _decoder(initial_prediction=False)
    _same_parameters(decoder, _decoder())
    cls_preds, mask_preds = decoder(mask_features, feats)
    ref_cls, ref_masks = _decoder()(mask_features, feats)
    assert len(cls_preds) == 9
    for ours, ref in zip(cls_preds + mask_preds, ref_cls[1:] + ref_masks[1:]):
        assert torch.equal(ours, ref)


def test_maskformer_decoder_on_one_level_has_no_level_embedding():
    feats, mask_features = _inputs()
    decoder = _decoder(num_feature_levels=1, masked_attention=False, cross_attention_first=False,
                       learnable_query_features=False, dropout=0.1, initial_prediction=False,
                       num_layers=6)
    assert decoder.level_embed is None and decoder.query_feat is None
    cls_preds, mask_preds = decoder(mask_features, feats[:1])
    assert len(cls_preds) == len(mask_preds) == 6
    assert mask_preds[-1].shape == (2, 6, 24, 32)


@pytest.mark.parametrize('kwargs', [dict(), dict(initial_prediction=False),
                                    dict(masked_attention=False),
                                    dict(single_scale_level=2, num_feature_levels=3)])
def test_final_only_equals_the_last_prediction(kwargs):
    decoder = _decoder(**kwargs)
    feats, mask_features = _inputs()
    cls_preds, mask_preds = decoder(mask_features, feats)
    (cls_final,), (mask_final,) = decoder(mask_features, feats, final_only=True)
    torch.testing.assert_close(cls_final, cls_preds[-1], rtol=0, atol=1e-5)
    torch.testing.assert_close(mask_final, mask_preds[-1], rtol=0, atol=1e-5)


def test_final_only_attention_masks_equal_resized_full_masks():
    decoder = _decoder()
    feats, mask_features = _inputs()
    full, low_res = [], []
    for masks, final_only in ((full, False), (low_res, True)):
        hooks = [layer.register_forward_pre_hook(lambda m, args: masks.append(args[-1]))
                 for layer in decoder.transformer_cross_attention_layers]
        decoder(mask_features, feats, final_only=final_only)
        for hook in hooks:
            hook.remove()
    assert len(full) == len(low_res) == 9
    for a, b in zip(full, low_res):
        assert a.shape == b.shape and a.any() and not a.all()
        assert torch.equal(a, b)
