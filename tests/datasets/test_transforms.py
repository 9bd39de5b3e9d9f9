"""LoadCocoPanopticAnnotations on the real COCO sample, inside mmdet's CocoPanopticDataset."""
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.datasets.transforms import LoadPanopticAnnotations
from mmdet.registry import DATASETS
from mmengine.registry import DefaultScope
from PIL import Image

from m2f_mm.datasets.transforms import LoadCocoPanopticAnnotations
from m2f_mm.datasets.panoptic_png import PanopticFormatError

# Two real COCO val images with panoptic annotations (see tests/data/README.md).
FIXTURE = Path(__file__).resolve().parents[1] / 'data' / 'coco_panoptic_sample'


def read_ids(path) -> np.ndarray:
    """Decode a panoptic PNG by hand: id = R + 256 G + 256^2 B."""
    rgb = np.asarray(Image.open(path).convert('RGB'), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


@pytest.fixture(scope='module')
def coco():
    with open(FIXTURE / 'panoptic_annotations.json') as f:
        return json.load(f)


@pytest.fixture(scope='module')
def dataset(coco):
    categories = coco['categories']
    metainfo = dict(classes=[c['name'] for c in categories],
                    thing_classes=[c['name'] for c in categories if c['isthing']],
                    stuff_classes=[c['name'] for c in categories if not c['isthing']])
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(
            type='CocoPanopticDataset', data_root=str(FIXTURE), metainfo=metainfo,
            ann_file='panoptic_annotations.json',
            data_prefix=dict(img='images/', seg='panoptic/'),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='m2f_mm.LoadCocoPanopticAnnotations'),
                      dict(type='PackDetInputs')]))


@pytest.mark.parametrize('index', [0, 1])
def test_packed_outputs_match_the_png(coco, dataset, index):
    info = dataset.get_data_info(index)
    ann = next(a for a in coco['annotations'] if a['image_id'] == info['img_id'])
    ids = read_ids(FIXTURE / 'panoptic' / ann['file_name'])
    label = {c['id']: i for i, c in enumerate(coco['categories'])}
    isthing = {c['id']: c['isthing'] for c in coco['categories']}
    things = [s for s in ann['segments_info'] if isthing[s['category_id']] and not s['iscrowd']]
    crowds = [s for s in ann['segments_info'] if s['iscrowd']]
    assert crowds  # both sample images have a crowd region

    assert type(dataset.pipeline.transforms[1]) is LoadCocoPanopticAnnotations
    sample = dataset[index]['data_samples']
    gt = sample.gt_instances
    # Crowd regions are neither instances nor ignored instances (as in mmdet).
    assert len(gt) == len(things) and len(sample.ignored_instances) == 0
    assert gt.labels.tolist() == [label[s['category_id']] for s in things]
    np.testing.assert_array_equal(gt.masks.masks,
                                  np.stack([ids == s['id'] for s in things]).astype(np.uint8))
    x, y, w, h = np.array([s['bbox'] for s in things], dtype=np.float32).T
    xyxy = np.stack([x, y, x + w, y + h], axis=1)
    torch.testing.assert_close(gt.bboxes.tensor, torch.from_numpy(xyxy))

    expected = np.full(ids.shape, 255)
    for s in ann['segments_info']:
        expected[ids == s['id']] = label[s['category_id']]
    sem_seg = sample.gt_sem_seg.sem_seg
    assert sem_seg.shape == (1, *ids.shape)
    np.testing.assert_array_equal(sem_seg[0].numpy(), expected)
    assert (sem_seg[0].numpy()[ids == 0] == 255).all()
    for s in crowds:
        assert (sem_seg[0].numpy()[ids == s['id']] == label[s['category_id']]).all()


def test_same_outputs_as_mmdet_transform(dataset, monkeypatch):
    """mmdet's transform, given the panopticapi rgb2id it imports, gives identical results."""
    utils = types.ModuleType('panopticapi.utils')
    utils.rgb2id = lambda rgb: (rgb.astype(np.int32) * [1, 256, 256 * 256]).sum(-1, dtype=np.int32)
    monkeypatch.setitem(sys.modules, 'panopticapi', types.SimpleNamespace(utils=utils))
    monkeypatch.setitem(sys.modules, 'panopticapi.utils', utils)
    ours, theirs = LoadCocoPanopticAnnotations(), LoadPanopticAnnotations()
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        info['ori_shape'] = (info['height'], info['width'])
        a, b = ours(dict(info)), theirs(dict(info))
        assert a.keys() == b.keys()
        torch.testing.assert_close(a['gt_bboxes'].tensor, b['gt_bboxes'].tensor)
        for key in ('gt_bboxes_labels', 'gt_ignore_flags', 'gt_seg_map'):
            np.testing.assert_array_equal(a[key], b[key])
            assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a['gt_masks'].masks, b['gt_masks'].masks)


def test_switches_and_missing_seg_map(dataset):
    info = dataset.get_data_info(0)
    boxes_only = LoadCocoPanopticAnnotations(with_mask=False, with_seg=False)
    results = boxes_only(dict(info, seg_map_path='/nonexistent.png'))  # the PNG is not read
    assert {'gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags'} <= results.keys()
    assert not {'gt_masks', 'gt_seg_map'} & results.keys()
    results = LoadCocoPanopticAnnotations()(dict(info, seg_map_path=None))
    assert 'gt_bboxes' in results and 'gt_seg_map' not in results


def _info_with_png(dataset, tmp_path, png_bytes=None, ids=None):
    """The first image's data info, its PNG replaced by bytes or by an id map."""
    info = dataset.get_data_info(0)
    path = tmp_path / Path(info['seg_map_path']).name
    if ids is not None:
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
        Image.fromarray(rgb).save(path)
    elif png_bytes is not None:
        path.write_bytes(png_bytes)
    return dict(info, seg_map_path=str(path)), path


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('corruption', ['missing', 'garbage', 'truncated'])
def test_unreadable_png_names_the_file(dataset, tmp_path, corruption, backend):
    original = Path(dataset.get_data_info(0)['seg_map_path']).read_bytes()
    png_bytes = dict(missing=None, garbage=b'not a png' * 50,
                     truncated=original[:len(original) // 2])[corruption]
    info, path = _info_with_png(dataset, tmp_path, png_bytes=png_bytes)
    message = 'not found' if corruption == 'missing' else 'cannot decode'
    with pytest.raises(PanopticFormatError, match=f'{message}.*{path.name}'):
        LoadCocoPanopticAnnotations(imdecode_backend=backend)(info)


def test_listed_segment_absent_from_png(dataset, tmp_path):
    info = dataset.get_data_info(0)
    ids = read_ids(info['seg_map_path'])
    gone = info['segments_info'][3]['id']
    info, path = _info_with_png(dataset, tmp_path, ids=np.where(ids == gone, 0, ids))
    with pytest.raises(PanopticFormatError, match=f'{path.name}: segment id {gone} is in'):
        LoadCocoPanopticAnnotations()(info)


def test_inconsistent_sizes_and_counts(dataset, tmp_path):
    info = dataset.get_data_info(0)
    shutil.copy(info['seg_map_path'], tmp_path / 'copy.png')
    info['seg_map_path'] = str(tmp_path / 'copy.png')
    with pytest.raises(PanopticFormatError, match=r'copy.png: PNG is \(427, 640\), the image is'):
        LoadCocoPanopticAnnotations()(dict(info, ori_shape=(428, 640)))
    with pytest.raises(PanopticFormatError, match='copy.png: 14 thing segments .* 13 instances'):
        LoadCocoPanopticAnnotations()(dict(info, instances=info['instances'][1:]))
