"""The mmdet / mmseg converter: a whole mmdet (or mmseg) Mask2Former checkpoint, converted,
gives the same predictions as the mmdet (mmseg) model it came from.

The source models are built from the host libraries' own R50 configs, their
weights perturbed from the init so that no two tensors of a shape are alike,
and saved as checkpoint files. All 10 predictions (class and mask logits of
every decoder stage) must agree to 1e-4 from the image on, backbone included.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.structures import BaseDataElement

import m2f_mm  # noqa: F401
from m2f_mm.converters import convert_checkpoint
from m2f_mm.converters.cli import main as convert
from m2f_mm.models.mask2former_head import Mask2FormerHead
from m2f_mm.utils import installed_config_path

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
H, W = 96, 128
CASES = {
    'mmdet': ('mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic.py', 'panoptic_head',
              'mask2former_r50_8xb2-lsj-50e_coco-panoptic.py'),
    'mmseg': ('mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py', 'decode_head',
              'mask2former_r50_8xb2-160k_ade20k-512x512.py'),
}


def _build(config):
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model).eval()


def _host_checkpoint(host, path):
    torch.manual_seed(0)
    model = _build(installed_config_path(host, CASES[host][0]))
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.add_(torch.randn_like(t) * 0.02)
                if name.endswith('running_var'):
                    t.abs_()
    torch.save(dict(meta=dict(note='synthetic'), state_dict=model.state_dict()), path)
    return model


@torch.no_grad()
def _predictions(model, head_name, image, own):
    feats = model.backbone(image)
    head = getattr(model, head_name)
    if own:
        return Mask2FormerHead.forward(head, feats)
    meta = dict(batch_input_shape=(H, W), img_shape=(H, W), pad_shape=(H, W), ori_shape=(H, W))
    return head(feats, [BaseDataElement(metainfo=meta)])


@pytest.mark.parametrize('host', sorted(CASES))
def test_converted_model_predicts_like_the_source(host, tmp_path):
    src = tmp_path / f'{host}.pth'
    theirs = _host_checkpoint(host, src)
    config = osp.join(REPO, 'configs', 'mask2former', CASES[host][2])
    head_name = CASES[host][1]
    if host == 'mmdet':  # the command line once, the function once
        convert('mmdet', 'x', [str(src), config, str(tmp_path / 'ours.pth')])
        ours = _build(config)
        ours.load_state_dict(torch.load(tmp_path / 'ours.pth', weights_only=True)['state_dict'],
                             strict=True)
    else:
        ours = _build(config)
        state_dict, _ = convert_checkpoint(str(src), 'mmdet', ours)
        ours.load_state_dict(state_dict, strict=True)
    image = torch.randn(2, 3, H, W, generator=torch.Generator().manual_seed(1))
    their_cls, their_masks = _predictions(theirs, head_name, image, own=False)
    our_cls, our_masks = _predictions(ours, head_name, image, own=True)
    assert len(our_cls) == len(their_cls) == 10
    for a, b in zip(our_cls + our_masks, their_cls + their_masks):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
