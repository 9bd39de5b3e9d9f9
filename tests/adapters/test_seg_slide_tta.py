"""Sliding-window inference and test-time augmentation through mmseg with our decode head.

mmseg's ``slide_inference`` calls the head once per crop with the image's metas
(``img_shape`` set to the crop's, ``pad_shape`` left at the whole padded image's); its
own Mask2Former head answers at ``pad_shape`` there and fails (mmsegmentation issue
3666). ``SegTTAModel`` averages softmax(seg_logits); our TTA model averages the head's
scores, as the reference does.

The small untrained models check shapes and the merge rules; one toy model trained for a
short schedule (module fixture) gives mIoU single scale, sliding window and TTA through
tools/test.py, printed for the README.
"""
import math
import os
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope, MODELS, TRANSFORMS
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import m2f_mm  # noqa: F401
from m2f_mm.adapters.seg import Mask2FormerSegTTAModel
from tests.adapters._small_models import build_segmentor
from tests.conftest import TOY_TRAIN_ITERS as TRAIN_ITERS
from tests._tool_errors import assert_one_line_error

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py'
H, W = 100, 140  # padded to 128 x 160 by the preprocessor, which records pad_shape


def _segmentor(**test_cfg):
    torch.manual_seed(0)
    model = build_segmentor().eval()
    # Pad test images to a multiple of 32, as the ADE20K and Cityscapes configs do: the
    # metas then carry pad_shape, which is the whole image's, not a crop's.
    model.data_preprocessor.test_cfg = dict(size_divisor=32)
    model.test_cfg = ConfigDict(test_cfg or dict(mode='whole'))
    return model


def _batch(flip=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 255, (3, H, W), generator=g, dtype=torch.uint8)
    meta = dict(img_shape=(H, W), ori_shape=(H, W), img_path='x.png')
    if flip:
        image = image.flip(-1)
        meta.update(flip=True, flip_direction='horizontal')
    return dict(inputs=[image], data_samples=[SegDataSample(metainfo=meta)])


def _predict(model):
    with torch.no_grad():
        return model.test_step(_batch())[0]


def test_slide_with_one_window_equals_whole():
    whole = _predict(_segmentor())
    slide = _predict(_segmentor(mode='slide', crop_size=(160, 160), stride=(128, 128)))
    assert slide.seg_logits.data.shape == (4, H, W)
    assert torch.allclose(slide.seg_logits.data, whole.seg_logits.data, atol=1e-6)
    assert torch.equal(slide.pred_sem_seg.data, whole.pred_sem_seg.data)


def test_slide_with_overlapping_windows_answers_at_each_crop():
    model = _segmentor(mode='slide', crop_size=(96, 96), stride=(64, 64))
    head, crops = model.decode_head, []
    original = head.predict
    head.predict = lambda *args, **kwargs: crops.append(original(*args, **kwargs)) or crops[-1]
    result = _predict(model)
    # 2 x 2 overlapping windows of 96 x 96 over the padded 128 x 160 input, each
    # answered at its own size.
    assert [tuple(c.shape) for c in crops] == [(1, 4, 96, 96)] * 4
    assert result.seg_logits.data.shape == (4, H, W)
    assert result.pred_sem_seg.data.shape == (1, H, W)
    assert torch.isfinite(result.seg_logits.data).all()


def test_tta_merge_averages_the_scores():
    """The merge is the mean of the scores, not of their softmax."""
    scores = [torch.tensor([0.0, 0.0, 0.8])[:, None, None],
              torch.tensor([0.8, 1.0, 0.0])[:, None, None]]
    samples = []
    for s in scores:
        sample = SegDataSample(metainfo=dict(img_path='a.png', ori_shape=(1, 1)))
        sample.seg_logits = PixelData(data=s)
        sample.gt_sem_seg = PixelData(data=torch.zeros((1, 1, 1), dtype=torch.long))
        samples.append(sample)
    merged = Mask2FormerSegTTAModel(module=_segmentor()).merge_preds([samples])[0]
    assert torch.allclose(merged.seg_logits.data, (scores[0] + scores[1]) / 2)
    assert merged.pred_sem_seg.data.item() == 1  # mean 0.4, 0.5, 0.4
    # SegTTAModel's merge, mean softmax (0.306, 0.347, 0.347), picks class 2.
    assert torch.stack([s.softmax(0) for s in scores]).mean(0).argmax().item() == 2
    assert merged.img_path == 'a.png' and 'gt_sem_seg' in merged


def test_tta_model_merges_flipped_augmentations():
    model = _segmentor()
    tta = Mask2FormerSegTTAModel(module=model)
    plain, flipped = _batch(), _batch(flip=True)
    with torch.no_grad():
        merged = tta.test_step({k: [plain[k], flipped[k]] for k in plain})[0]
        each = [model.test_step(b)[0].seg_logits.data for b in (_batch(), _batch(flip=True))]
    # EncoderDecoder flips the flipped pass back: both are in the original's frame.
    assert torch.allclose(merged.seg_logits.data, (each[0] + each[1]) / 2, atol=1e-6)
    assert merged.pred_sem_seg.data.shape == (1, H, W)


ZOO_DIR = osp.join(REPO, 'configs', 'mask2former')
# The semantic configs (mmseg's TTA); the panoptic and instance ones are mmdet models.
ZOO = sorted(osp.join(ZOO_DIR, name) for name in os.listdir(ZOO_DIR)
             if any(d in name for d in ('ade20k', 'cityscapes', 'mapillary'))
             and not any(t in name for t in ('panoptic', 'instance')))


def _resize_scale(pipeline):
    (scale,) = [t.scale for t in pipeline if t.type == 'Resize']
    return tuple(scale)


@pytest.mark.parametrize('path', ZOO, ids=[osp.basename(p) for p in ZOO])
def test_zoo_tta_is_multi_scale_flip_at_the_test_scale(path):
    cfg = Config.fromfile(path)
    assert cfg.tta_model.type == 'm2f_mm.Mask2FormerSegTTAModel'
    test_scale = _resize_scale(cfg.test_dataloader.dataset.pipeline)
    assert test_scale == {'512x512': (2048, 512), '640x640': (2560, 640),
                          '512x1024': (2048, 1024),
                          '1024x1024': (2048, 2048)}[path[:-3].rsplit('-', 1)[-1]]
    load, aug = cfg.tta_pipeline
    assert load.type == 'LoadImageFromFile' and aug.type == 'TestTimeAug'
    resizes, flips, *_ = aug.transforms
    ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert [tuple(t.scale) for t in resizes] == [
        (int(test_scale[0] * r), int(test_scale[1] * r)) for r in ratios]
    assert all(t.keep_ratio for t in resizes)
    assert [(t.prob, t.direction) for t in flips] == [(0., 'horizontal'), (1., 'horizontal')]


def test_ade20k_r50_tta_model_and_pipeline_build(tmp_path):
    """The R50 ADE20K config's TTA model wraps its model, and its pipeline gives at ratio
    1 exactly the single-scale test input (image 300 x 400, test scale 2048 x 512)."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mask2former',
                                   'mask2former_r50_8xb2-160k_ade20k-512x512.py'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        tta = MODELS.build(dict(cfg.tta_model, module=cfg.model))
        assert isinstance(tta, Mask2FormerSegTTAModel)
        assert type(tta.module.decode_head).__name__ == 'Mask2FormerDecodeHead'
        test_pipeline = [TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline]
        tta_pipeline = [TRANSFORMS.build(t) for t in cfg.tta_pipeline]
    mmcv.imwrite(np.zeros((300, 400, 3), np.uint8), str(tmp_path / 'a.jpg'))
    mmcv.imwrite(np.ones((300, 400), np.uint8), str(tmp_path / 'a.png'))

    def run(pipeline):
        results = dict(img_path=str(tmp_path / 'a.jpg'), seg_map_path=str(tmp_path / 'a.png'),
                       reduce_zero_label=True, seg_fields=[])
        for transform in pipeline:
            results = transform(results)
        return results

    single = run(test_pipeline)['data_samples']
    augs = run(tta_pipeline)['data_samples']
    assert single.img_shape == (512, 683)
    assert [(s.img_shape, s.flip) for s in augs] == [
        (shape, flip) for shape in [(256, 341), (384, 512), (512, 683), (640, 853),
                                    (768, 1024), (896, 1195)] for flip in (False, True)]
    assert all(s.gt_sem_seg.data.shape == (1, 300, 400) for s in augs)


def _tool(script, *args, check=True):
    proc = subprocess.run([sys.executable, f'tools/{script}', *args], cwd=REPO,
                          capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _assert_one_line_error(proc, *fragments):
    assert_one_line_error(proc, 'test.py: error: --tta ', *fragments)


def test_tta_without_tta_settings_is_one_line_error(tmp_path):
    checkpoint = tmp_path / 'any.pth'
    checkpoint.touch()
    proc = _tool('test.py', TOY, str(checkpoint), '--tta', '--work-dir', str(tmp_path),
                 '--cfg-options', 'tta_model=None', 'tta_pipeline=None', check=False)
    _assert_one_line_error(proc, 'tta_model and tta_pipeline', TOY)


def test_tta_on_an_mmdet_config_is_one_line_error(tmp_path):
    checkpoint = tmp_path / 'any.pth'
    checkpoint.touch()
    config = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py'
    proc = _tool('test.py', config, str(checkpoint), '--tta', '--work-dir', str(tmp_path),
                 check=False)
    _assert_one_line_error(proc, 'mmseg', "default_scope='mmdet'")


@pytest.fixture(scope='module')
def trained(tmp_path_factory, trained_toy_checkpoint):
    """The toy semantic model after a short schedule, and its single-scale mIoU."""
    from quickstart import logged_metrics
    tmp_path = tmp_path_factory.mktemp('trained')
    checkpoint = trained_toy_checkpoint(TOY)

    def miou(name, *options):
        _tool('test.py', TOY, checkpoint, '--work-dir', str(tmp_path / name), *options)
        return logged_metrics(str(tmp_path / name))['mIoU']

    return dict(miou=miou, single=miou('single'))


@pytest.mark.slow
def test_trained_toy_slide_close_to_whole(trained):
    slide = trained['miou']('slide', '--cfg-options', 'model.test_cfg.mode=slide',
                            'model.test_cfg.crop_size=(96,96)', 'model.test_cfg.stride=(64,64)')
    print(f'\ntoy val mIoU after {TRAIN_ITERS} iters: whole {trained["single"]:.2f}, '
          f'slide (96 x 96 crops, stride 64) {slide:.2f}')
    assert trained['single'] > 70 and math.isfinite(slide)
    assert abs(slide - trained['single']) <= 5


@pytest.mark.slow
def test_trained_toy_tta_not_below_single_scale(trained):
    tta = trained['miou']('tta', '--tta')
    print(f'\ntoy val mIoU after {TRAIN_ITERS} iters: single scale {trained["single"]:.2f}, '
          f'TTA (0.75 / 1 / 1.25 x flip) {tta:.2f}')
    assert math.isfinite(tta) and tta >= trained['single'] - 5
