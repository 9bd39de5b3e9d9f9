"""The transformers converter: a transformers Mask2Former, converted, predicts what it did.

Small random ``Mask2FormerForUniversalSegmentation`` models (a Swin and a
ResNet backbone), their weights moved off the init so that swapped or dropped
tensors show, are saved as transformers saves them; an m2f_mm
Mask2FormerDetector of the same sizes loads the converted state dict with
``strict=True`` and must give the same final class logits (B, Q, K + 1) and
mask logits (B, Q, H/4, W/4) for the same normalised images, to 1e-4.

The images are 256 x 320, so every Swin stage map (64 x 80 down to 8 x 10) is
larger than the 7 x 7 window: transformers before 5 shrank the window of
smaller maps, mmcv does not.
"""
import pytest
import torch
from mmengine.config import Config
from torch import nn
from transformers import (Mask2FormerConfig, Mask2FormerForUniversalSegmentation, ResNetConfig,
                          SwinConfig)

import m2f_mm  # noqa: F401
from m2f_mm.converters import convert_checkpoint
from m2f_mm.converters.cli import build_model
from m2f_mm.converters.cli import main as convert
from m2f_mm.converters.hf_keys import hf_key_map, read_hf

H, W = 256, 320
NUM_THINGS, NUM_STUFF = 3, 2
STRIDES = [4, 8, 16, 32]
CHANNELS = [32, 64, 128, 256]
STAGES = ['stage1', 'stage2', 'stage3', 'stage4']
TOLERANCE = 1e-4
HEAD_PREFIX = 'panoptic_head.'

# The same head twice: transformers' config keys, then ours (its decoder_layers
# counts the prediction from the learnable queries as a layer).
HF_HEAD = dict(feature_size=32, hidden_dim=32, mask_feature_size=32, num_queries=6,
               num_labels=NUM_THINGS + NUM_STUFF, num_attention_heads=4, encoder_layers=2,
               encoder_feedforward_dim=64, decoder_layers=5, dim_feedforward=64,
               no_object_weight=0.2)
OUR_HEAD = dict(
    type='Mask2FormerDetHead', num_things_classes=NUM_THINGS, num_stuff_classes=NUM_STUFF,
    in_channels=CHANNELS, strides=STRIDES, num_queries=6, embed_dims=32, mask_channels=32,
    pixel_decoder=dict(type='MSDeformAttnPixelDecoder', num_layers=2, num_heads=4,
                       ffn_channels=64),
    transformer_decoder=dict(type='MaskedAttentionDecoder', num_heads=4, ffn_channels=64,
                             num_layers=4))

SWIN = (SwinConfig(embed_dim=32, depths=[2, 2, 2, 2], num_heads=[2, 4, 8, 16], window_size=7,
                   out_features=STAGES),
        dict(type='SwinTransformer', embed_dims=32, depths=(2, 2, 2, 2),
             num_heads=(2, 4, 8, 16), window_size=7, out_indices=(0, 1, 2, 3)))
# A bottleneck ResNet-50 at 1/8 width.
RESNET = (ResNetConfig(embedding_size=8, hidden_sizes=CHANNELS, depths=[3, 4, 6, 3],
                       layer_type='bottleneck', out_features=STAGES),
          dict(type='ResNet', depth=50, base_channels=8, out_indices=(0, 1, 2, 3),
               norm_cfg=dict(type='BN'), style='pytorch'))


@torch.no_grad()
def _hf_model(backbone_config) -> Mask2FormerForUniversalSegmentation:
    """A random transformers model whose norms, running statistics and
    zero-initialised tensors (deformable attention weights, biases) are random too."""
    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(
        Mask2FormerConfig(backbone_config=backbone_config, **HF_HEAD)).eval()
    for p in model.parameters():
        p.add_(torch.randn_like(p) * 0.05)
    for module in model.modules():
        if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d)):
            module.weight.uniform_(0.5, 1.5)
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def _config(tmp_path, backbone: dict) -> str:
    """A config file of our detector with ``backbone`` and the small head."""
    path = str(tmp_path / 'm2f_mm_config.py')
    Config(dict(
        default_scope='mmdet', custom_imports=dict(imports=['m2f_mm'], allow_failed_imports=False),
        model=dict(type='m2f_mm.Mask2FormerDetector', backbone=backbone, panoptic_head=OUR_HEAD,
                   panoptic_fusion_head=dict(type='Mask2FormerFusionHead'), train_cfg=None,
                   test_cfg=dict(panoptic_on=True, semantic_on=False, instance_on=False)),
    )).dump(path)
    return path


@torch.no_grad()
def _max_differences(hf: nn.Module, ours: nn.Module) -> tuple:
    """Max abs differences of the final class and mask logits on two images."""
    images = torch.randn(2, 3, H, W, generator=torch.Generator().manual_seed(1))
    theirs = hf(pixel_values=images)
    cls_preds, mask_preds = ours.eval().panoptic_head(ours.extract_feat(images))
    assert cls_preds[-1].shape == theirs.class_queries_logits.shape == (2, 6, 6)
    assert mask_preds[-1].shape == theirs.masks_queries_logits.shape == (2, 6, H // 4, W // 4)
    return ((cls_preds[-1] - theirs.class_queries_logits).abs().max().item(),
            (mask_preds[-1] - theirs.masks_queries_logits).abs().max().item())


@pytest.fixture(scope='module')
def swin_checkpoint(tmp_path_factory):
    """The Swin model and its save_pretrained directory."""
    hf = _hf_model(SWIN[0])
    path = tmp_path_factory.mktemp('hf_swin')
    hf.save_pretrained(str(path))
    return hf, str(path)


def test_swin_directory_converts_to_the_same_predictions(swin_checkpoint, tmp_path):
    hf, path = swin_checkpoint
    ours = build_model(_config(tmp_path, SWIN[1]))
    state_dict, notes = convert_checkpoint(path, 'hf', ours)
    ours.load_state_dict(state_dict, strict=True)
    # transformers 5 does not save the Swin relative_position_index, 4 did: its values
    # are mmcv's, so the rule that maps a saved one is right too.
    assert any('relative_position_index' in note for note in notes)
    for s, layer in enumerate(hf.model.pixel_level_module.encoder.swin.encoder.layers):
        for b, block in enumerate(layer.blocks):
            index = ours.backbone.stages[s].blocks[b].attn.w_msa.relative_position_index
            assert torch.equal(
                block.attention.relative_position_bias.relative_position_index.view_as(index),
                index)
    assert torch.equal(state_dict[HEAD_PREFIX + 'criterion.empty_weight'],
                       hf.criterion.empty_weight)
    cls_diff, mask_diff = _max_differences(hf, ours)
    print(f'swin: max |class logits diff| {cls_diff:.2e}, max |mask logits diff| {mask_diff:.2e}')
    assert cls_diff <= TOLERANCE and mask_diff <= TOLERANCE


def test_transformers5_module_names_convert_like_the_saved_ones(swin_checkpoint):
    """A state dict taken from a transformers 5 model (q_proj, mlp.fc1, swin.*) maps to
    the same tensors as save_pretrained's (transformers 4 names)."""
    hf, path = swin_checkpoint
    saved = hf_key_map(read_hf(path), HEAD_PREFIX)
    in_memory = hf_key_map(hf.state_dict(), HEAD_PREFIX)
    assert saved.keys() == in_memory.keys()
    assert all(torch.equal(saved[key], in_memory[key]) for key in saved)


def test_missing_value_projection_is_refused(swin_checkpoint):
    _, path = swin_checkpoint
    state_dict = read_hf(path)
    del state_dict['model.pixel_level_module.encoder.encoder.layers.1.blocks.0.'
                   'attention.self.value.weight']
    with pytest.raises(KeyError, match=r'stages\.1\.blocks\.0\.attn\.w_msa\.qkv\.weight'):
        hf_key_map(state_dict, HEAD_PREFIX)


def test_resnet_bin_through_the_cli(tmp_path):
    hf = _hf_model(RESNET[0])
    src, out = str(tmp_path / 'pytorch_model.bin'), str(tmp_path / 'converted.pth')
    torch.save(hf.state_dict(), src)
    config = _config(tmp_path, RESNET[1])
    convert('hf', 'test', [src, config, out])
    ours = build_model(config)
    ours.load_state_dict(torch.load(out, weights_only=False)['state_dict'], strict=True)
    cls_diff, mask_diff = _max_differences(hf, ours)
    print(f'resnet: max |class logits diff| {cls_diff:.2e}, '
          f'max |mask logits diff| {mask_diff:.2e}')
    assert cls_diff <= TOLERANCE and mask_diff <= TOLERANCE
