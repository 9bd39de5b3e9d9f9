"""The core head end to end: gradients, hard inputs, mixed precision.

A small head (narrow channels, few queries and points) keeps this fast; the
full-size head is compared with mmdet's in test_mmdet_equivalence.py.
"""
import pytest
import torch

from m2f_mm.registry import MODELS

IN_CHANNELS = [16, 32, 64, 128]
STRIDES = [4, 8, 16, 32]


def _head(num_classes=4, **criterion):
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='Mask2FormerHead', in_channels=IN_CHANNELS, strides=STRIDES,
        num_classes=num_classes, num_queries=8, embed_dims=32, mask_channels=32,
        pixel_decoder=dict(type='MSDeformAttnPixelDecoder', num_layers=2, num_heads=4,
                           ffn_channels=64),
        transformer_decoder=dict(type='MaskedAttentionDecoder', num_heads=4, ffn_channels=64),
        criterion=dict(type='Mask2FormerCriterion', num_points=256, **criterion)))
    head.init_weights()
    return head


def _feats(batch, height, width, seed=0):
    """Backbone-like maps for an input of height x width (ResNet output sizes)."""
    g = torch.Generator().manual_seed(seed)
    feats = []
    h, w = height, width
    for i, c in enumerate(IN_CHANNELS):
        h, w = (h + 1) // 2, (w + 1) // 2
        if i == 0:  # the stem's conv and max-pool both halve
            h, w = (h + 1) // 2, (w + 1) // 2
        feats.append(torch.randn(batch, c, h, w, generator=g))
    return feats


def _box_target(height, width, boxes, labels):
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for m, (y0, y1, x0, x1) in zip(masks, boxes):
        m[y0:y1, x0:x1] = True
    return dict(labels=torch.tensor(labels, dtype=torch.long), masks=masks)


def _assert_finite(losses):
    assert len(losses) == 30
    for name, value in losses.items():
        assert torch.isfinite(value).all(), name


def test_backward_reaches_every_parameter():
    head = _head()
    feats = _feats(2, 64, 96)
    targets = [_box_target(64, 96, [(0, 32, 0, 48), (32, 64, 40, 96)], [0, 3]),
               _box_target(64, 96, [(10, 50, 10, 50)], [2])]
    # At the Deformable-DETR init the offset and attention-weight layers are
    # zero, so the pixel decoder's position/level embeddings get exactly zero
    # gradient on the first step (as in the reference); check after one step.
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-4)
    for _ in range(2):
        optimizer.zero_grad()
        losses = head.loss_by_targets(feats, targets)
        _assert_finite(losses)
        sum(losses.values()).backward()
        optimizer.step()
    for name, p in head.named_parameters():
        assert p.grad is not None, f'{name} gets no gradient'
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f'{name} has an all-zero gradient'


@pytest.mark.parametrize('case', ['no_targets', 'tiny_target', 'batch_of_one', 'odd_size'])
def test_hard_inputs_give_finite_losses(case):
    head = _head()
    height, width, batch = 64, 96, 2
    targets = [_box_target(64, 96, [(0, 32, 0, 48)], [1]),
               _box_target(64, 96, [(5, 60, 20, 90)], [2])]
    if case == 'no_targets':
        targets[1] = dict(labels=torch.zeros(0, dtype=torch.long),
                          masks=torch.zeros(0, 64, 96, dtype=torch.bool))
    elif case == 'tiny_target':
        # One pixel: far smaller than a 1/32 (or even a 1/4) feature cell.
        targets[1] = _box_target(64, 96, [(40, 41, 70, 71)], [3])
    elif case == 'batch_of_one':
        batch, targets = 1, targets[:1]
    elif case == 'odd_size':
        # Non-square and not a multiple of 32.
        height, width = 100, 140
        targets = [_box_target(100, 140, [(3, 97, 5, 60)], [0]),
                   _box_target(100, 140, [(50, 100, 70, 140)], [1])]
    feats = _feats(batch, height, width)
    cls_preds, mask_preds = head(feats)
    assert mask_preds[-1].shape[-2:] == feats[0].shape[-2:]
    losses = head.loss_by_targets(feats, targets)
    _assert_finite(losses)
    sum(losses.values()).backward()


def test_query_with_empty_mask_is_finite():
    """One query predicts an empty mask at every stage."""
    head = _head()

    def constant_channel(module, args, output):
        mask_features, multi_scale = output
        mask_features = mask_features.clone()
        mask_features[:, -1] = 1.0
        return mask_features, multi_scale

    def empty_query(module, args, output):
        output = output.clone()
        output[:, 0] = 0.0
        output[:, 0, -1] = -100.0  # logit -100 everywhere
        return output

    head.pixel_decoder.register_forward_hook(constant_channel)
    head.predictor.mask_embed.register_forward_hook(empty_query)
    feats = _feats(2, 64, 96)
    cls_preds, mask_preds = head(feats)
    assert all((m[:, 0] < -50).all() for m in mask_preds)
    targets = [_box_target(64, 96, [(0, 32, 0, 48)], [1]) for _ in range(2)]
    losses = head.loss_by_targets(feats, targets)
    _assert_finite(losses)
    sum(losses.values()).backward()


def test_bf16_autocast_training_is_finite():
    head = _head()
    feats = _feats(2, 64, 96)
    targets = [_box_target(64, 96, [(0, 32, 0, 48)], [1]),
               _box_target(64, 96, [(5, 60, 20, 90), (0, 4, 0, 4)], [2, 0])]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        cls_preds, mask_preds = head(feats)
        losses = head.criterion(cls_preds, mask_preds, targets)
    assert cls_preds[-1].dtype == torch.bfloat16  # the decoder did run in bf16
    _assert_finite(losses)
    sum(losses.values()).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_full_mask_losses_switch():
    feats = _feats(1, 64, 96)
    targets = [_box_target(64, 96, [(0, 32, 0, 48)], [1])]
    sampled = _head()
    full = _head(point_sampled=False)
    full.load_state_dict(sampled.state_dict())
    with torch.no_grad():
        a = sampled.loss_by_targets(feats, targets)
        b = full.loss_by_targets(feats, targets)
    torch.testing.assert_close(a['loss_cls'], b['loss_cls'])
    assert not torch.allclose(a['loss_mask'], b['loss_mask'])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_fp16_autocast_training_on_cuda():
    """fp16 autocast with a GradScaler: finite losses and gradients; the pixel
    decoder (and mmcv's kernel inside it) runs in fp32."""
    head = _head().cuda()
    feats = [f.cuda() for f in _feats(2, 64, 96)]
    targets = [{k: v.cuda() for k, v in _box_target(64, 96, [(0, 32, 0, 48)], [1]).items()},
               {k: v.cuda() for k, v in _box_target(64, 96, [(5, 60, 20, 90)], [2]).items()}]
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler('cuda')
    for _ in range(3):
        optimizer.zero_grad()
        with torch.autocast('cuda', dtype=torch.float16):
            cls_preds, mask_preds = head(feats)
            losses = head.criterion(cls_preds, mask_preds, targets)
        assert cls_preds[-1].dtype == torch.float16
        _assert_finite(losses)
        scaler.scale(sum(losses.values())).backward()
        scaler.step(optimizer)
        scaler.update()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_full_size_head_on_cuda_equals_cpu(monkeypatch):
    """The R50-width head (256 channels, 100 queries, 6 encoder and 9 decoder
    layers, 133 classes) on a batch of two 512x512 inputs: every prediction of
    every decoder stage agrees within 1e-4 between CUDA (fp32, with the CUDA
    deformable-attention kernel) and CPU."""
    # TF32 would round convolution and matmul inputs to 10 mantissa bits.
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    torch.manual_seed(0)
    head = MODELS.build(dict(type='Mask2FormerHead', in_channels=[256, 512, 1024, 2048],
                             strides=STRIDES, num_classes=133))
    head.init_weights()
    head.eval()
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, c, 512 // s, 512 // s, generator=g)
             for c, s in zip([256, 512, 1024, 2048], STRIDES)]
    with torch.no_grad():
        cpu_cls, cpu_masks = head(feats)
        cuda_cls, cuda_masks = head.cuda()([f.cuda() for f in feats])
    assert len(cuda_cls) == len(cuda_masks) == 10
    for stage, (a, b, c, d) in enumerate(zip(cpu_cls, cuda_cls, cpu_masks, cuda_masks)):
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=1e-4, msg=f'classes {stage}')
        torch.testing.assert_close(d.cpu(), c, atol=1e-4, rtol=1e-4, msg=f'masks {stage}')


def test_every_module_is_initialised_once_by_init_weights(monkeypatch):
    """Building initialises nothing; init_weights (as a Runner calls it) runs every
    module's own init exactly once."""
    from m2f_mm.models.layers.ms_deform_attn import MSDeformAttn
    from m2f_mm.models.pixel_decoder import MSDeformAttnPixelDecoder
    from m2f_mm.models.transformer_decoder import MaskedAttentionDecoder
    calls = []
    for cls in (MSDeformAttn, MSDeformAttnPixelDecoder, MaskedAttentionDecoder):
        original = cls.init_weights
        monkeypatch.setattr(cls, 'init_weights',
                            lambda self, _f=original: (calls.append(type(self)), _f(self))[1])
    head = MODELS.build(dict(
        type='Mask2FormerHead', in_channels=IN_CHANNELS, strides=STRIDES, num_classes=4,
        num_queries=8, embed_dims=32, mask_channels=32,
        pixel_decoder=dict(type='MSDeformAttnPixelDecoder', num_layers=2, num_heads=4,
                           ffn_channels=64)))
    assert calls == []
    head.init_weights()
    assert calls.count(MSDeformAttnPixelDecoder) == 1
    assert calls.count(MaskedAttentionDecoder) == 1
    assert calls.count(MSDeformAttn) == 2  # one per encoder layer
