"""The toy data generator: determinism, annotation consistency and stock loaders."""
import hashlib
import json
import os
import os.path as osp
import runpy

import cv2
import numpy as np
import pytest
from mmdet.registry import DATASETS as DET_DATASETS
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS as SEG_DATASETS
from PIL import Image
from pycocotools import mask as mask_utils

from toy_data import find_toy_dataset, generate_toy_dataset, toy_dataset_paths, toy_metainfo

PARAMS = dict(num_train=12, num_val=4, image_size=(64, 80), seed=0)
SPLITS = ('train', 'val')
CLI = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
               'generate_toy_data.py')


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    return generate_toy_dataset(str(tmp_path_factory.mktemp('toy')), **PARAMS)


def _hashes(root):
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            with open(osp.join(folder, name), 'rb') as f:
                found[osp.relpath(osp.join(folder, name), root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return found


def _load(path):
    with open(path) as f:
        return json.load(f)


def _panoptic_ids(path):
    rgb = np.asarray(Image.open(path), dtype=np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 ** 2 * rgb[..., 2]


def _panoptic(toy, split):
    """Yield (image info, segments_info, segment-id map) of each image of a split."""
    data = _load(toy[f'panoptic_{split}'])
    images = {img['id']: img for img in data['images']}
    for ann in data['annotations']:
        yield (images[ann['image_id']], ann['segments_info'],
               _panoptic_ids(osp.join(toy[f'panoptic_seg_{split}'], ann['file_name'])))


def test_same_seed_gives_identical_files_other_seed_differs(toy, tmp_path):
    first = _hashes(toy['root'])
    again = generate_toy_dataset(str(tmp_path / 'again'), **PARAMS)
    assert _hashes(again['root']) == first
    other = _hashes(generate_toy_dataset(str(tmp_path / 'other'), **dict(PARAMS, seed=1))['root'])
    assert other.keys() == first.keys()
    images = [path for path in first if path.endswith('.jpg')]
    assert len(images) == 2 * (PARAMS['num_train'] + PARAMS['num_val'])
    assert all(other[path] != first[path] for path in images)


def test_folder_layout_and_image_files(toy):
    for split, count in zip(SPLITS, (PARAMS['num_train'], PARAMS['num_val'])):
        coco_images = sorted(os.listdir(toy[f'coco_img_{split}']))
        assert coco_images == [f'toy_{split}_{i:06d}.jpg' for i in range(count)]
        assert sorted(os.listdir(toy[f'ade_img_{split}'])) == coco_images
        stems = [name[:-4] for name in coco_images]
        for folder in (toy[f'panoptic_seg_{split}'], toy[f'ade_ann_{split}']):
            assert sorted(os.listdir(folder)) == [f'{stem}.png' for stem in stems]
        for name in coco_images:
            with Image.open(osp.join(toy[f'coco_img_{split}'], name)) as img:
                assert (img.format, img.mode, img.size) == ('JPEG', 'RGB', (80, 64))
            with open(osp.join(toy[f'coco_img_{split}'], name), 'rb') as a, \
                    open(osp.join(toy[f'ade_img_{split}'], name), 'rb') as b:
                assert a.read() == b.read()
    train_ids = {img['id'] for img in _load(toy['panoptic_train'])['images']}
    val_ids = {img['id'] for img in _load(toy['panoptic_val'])['images']}
    assert not train_ids & val_ids


def test_panoptic_pngs_match_segments_info(toy):
    categories = {c['id']: c for c in _load(toy['panoptic_train'])['categories']}
    assert [(c['name'], c['isthing']) for c in categories.values()] == [
        ('circle', 1), ('square', 1), ('triangle', 1), ('sky', 0), ('ground', 0)]
    assert list(categories) == [1, 2, 3, 10, 11]
    seen = dict(crowd=0, void=0, tiny=0, overlap=0, high_ids=0)
    for split in SPLITS:
        for img, segments, ids in _panoptic(toy, split):
            assert ids.shape == (img['height'], img['width'])
            listed = [s['id'] for s in segments]
            assert len(set(listed)) == len(listed)
            assert set(np.unique(ids)) - {0} == set(listed)
            for seg in segments:
                mask = ids == seg['id']
                rows, cols = np.nonzero(mask)
                assert seg['area'] == mask.sum()
                assert seg['bbox'] == [cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1]
                assert not seg['iscrowd'] or categories[seg['category_id']]['isthing']
                seen['high_ids'] += seg['id'] >= 256 ** 2
            things = [s for s in segments
                      if categories[s['category_id']]['isthing'] and not s['iscrowd']]
            seen['crowd'] += sum(s['iscrowd'] for s in segments)
            seen['void'] += (ids == 0).sum()
            seen['tiny'] += sum(max(s['bbox'][2:]) <= 6 for s in things)
            seen['overlap'] += _count_occlusions(things, ids)
    assert all(seen.values()), seen


def _count_occlusions(things, ids):
    """Count thing pairs where one covers part of the other's (convex) shape.

    All thing shapes are convex, and a thing only ever loses pixels to things
    drawn later, so its remaining pixel centres span a hull inside its shape:
    pixels of another thing strictly inside that hull were drawn over it.
    """
    count = 0
    for lower in things:
        rows, cols = np.nonzero(ids == lower['id'])
        if len(rows) < 3:
            continue
        hull = cv2.convexHull(np.stack([cols, rows], 1).astype(np.float32))
        for upper in things:
            if upper is lower:
                continue
            rows, cols = np.nonzero(ids == upper['id'])
            count += any(cv2.pointPolygonTest(hull, (float(x), float(y)), False) > 0
                         for x, y in zip(cols, rows))
    return count


def test_semantic_maps_follow_the_panoptic_segments(toy):
    categories = _load(toy['panoptic_train'])['categories']
    label = {c['id']: i + 1 for i, c in enumerate(categories)}
    for split in SPLITS:
        for img, segments, ids in _panoptic(toy, split):
            expected = np.zeros(ids.shape, np.uint8)
            for seg in segments:
                if not seg['iscrowd']:
                    expected[ids == seg['id']] = label[seg['category_id']]
            stem = img['file_name'][:-4]
            with Image.open(osp.join(toy[f'ade_ann_{split}'], f'{stem}.png')) as ann:
                assert ann.mode == 'L'
                np.testing.assert_array_equal(np.asarray(ann), expected)


def test_instances_agree_with_panoptic_things(toy):
    for split in SPLITS:
        instances = _load(toy[f'instances_{split}'])
        panoptic = _load(toy[f'panoptic_{split}'])
        assert instances['images'] == panoptic['images']
        assert [c['id'] for c in instances['categories']] == [1, 2, 3]
        by_image = {}
        for ann in instances['annotations']:
            by_image.setdefault(ann['image_id'], []).append(ann)
        for img, segments, ids in _panoptic(toy, split):
            things = [s for s in segments if s['category_id'] in (1, 2, 3)]
            anns = by_image.get(img['id'], [])
            assert (sum(not s['iscrowd'] for s in things)
                    == sum(not a['iscrowd'] for a in anns))
            assert len(things) == len(anns)
            for seg, ann in zip(things, anns):
                mask = mask_utils.decode(ann['segmentation']).astype(bool)
                np.testing.assert_array_equal(mask, ids == seg['id'])
                assert ann['category_id'] == seg['category_id']
                assert ann['iscrowd'] == seg['iscrowd']
                assert ann['bbox'] == seg['bbox']
                assert abs(ann['area'] - seg['area']) <= 1
                assert abs(mask_utils.area(ann['segmentation']) - ann['area']) <= 1
        assert len({a['id'] for a in instances['annotations']}) == len(instances['annotations'])


def test_mmdet_coco_dataset_reads_instances(toy):
    instances = _load(toy['instances_train'])
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DET_DATASETS.build(dict(
            type='CocoDataset', data_root=toy['coco_root'],
            ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
            metainfo=toy_metainfo('instance'),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                      dict(type='PackDetInputs')]))
        assert len(dataset) == PARAMS['num_train']
        assert dataset.cat2label == {1: 0, 2: 1, 3: 2}
        crowds = 0
        for index in range(len(dataset)):
            item = dataset[index]
            sample = item['data_samples']
            anns = [a for a in instances['annotations'] if a['image_id'] == sample.img_id]
            assert tuple(item['inputs'].shape) == (3, 64, 80)
            gt, ignored = sample.gt_instances, sample.ignored_instances
            assert len(gt) == sum(not a['iscrowd'] for a in anns)
            assert len(ignored) == sum(a['iscrowd'] for a in anns)
            assert gt.masks.masks.shape[1:] == (64, 80)
            assert sorted(gt.masks.areas.tolist()) == sorted(
                a['area'] for a in anns if not a['iscrowd'])
            assert set(gt.labels.tolist()) <= {0, 1, 2}
            crowds += len(ignored)
        assert crowds > 0


def test_mmdet_coco_panoptic_dataset_parses(toy):
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DET_DATASETS.build(dict(
            type='CocoPanopticDataset', data_root=toy['coco_root'],
            ann_file='annotations/panoptic_val.json',
            data_prefix=dict(img='val/', seg='annotations/panoptic_val/'),
            metainfo=toy_metainfo('panoptic'), pipeline=[]))
    assert len(dataset) == PARAMS['num_val']
    assert dataset.cat2label == {1: 0, 2: 1, 3: 2, 10: 3, 11: 4}
    expected = {img['file_name']: segments for img, segments, _ in _panoptic(toy, 'val')}
    for index in range(len(dataset)):
        info = dataset[index]
        assert osp.isfile(info['img_path']) and osp.isfile(info['seg_map_path'])
        segments = expected[osp.basename(info['img_path'])]
        assert [s['id'] for s in info['segments_info']] == [s['id'] for s in segments]
        for parsed, seg in zip(info['segments_info'], segments):
            assert parsed['category'] == dataset.cat2label[seg['category_id']]
            assert parsed['is_thing'] == (seg['category_id'] <= 3 and not seg['iscrowd'])
        # mmdet keeps crowd things as segments only, not as instances.
        assert len(info['instances']) == sum(p['is_thing'] for p in info['segments_info'])
        assert len(info['instances']) == sum(
            s['category_id'] <= 3 and not s['iscrowd'] for s in segments)


def test_mmseg_reads_reduced_labels(toy):
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = SEG_DATASETS.build(dict(
            type='BaseSegDataset', data_root=toy['ade_root'],
            data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
            img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True,
            metainfo=toy_metainfo('semantic'),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')]))
        assert len(dataset) == PARAMS['num_train']
        seen = set()
        for index in range(len(dataset)):
            item = dataset[index]
            labels = item['data_samples'].gt_sem_seg.data[0].numpy()
            with Image.open(item['data_samples'].seg_map_path) as ann:
                raw = np.asarray(ann).astype(np.int64)
            np.testing.assert_array_equal(labels, np.where(raw == 0, 255, raw - 1))
            seen |= set(np.unique(labels).tolist())
    assert seen == {0, 1, 2, 3, 4, 255}


def test_metainfo():
    panoptic = toy_metainfo()
    assert panoptic['classes'] == ('circle', 'square', 'triangle', 'sky', 'ground')
    assert panoptic['thing_classes'] == ('circle', 'square', 'triangle')
    assert panoptic['stuff_classes'] == ('sky', 'ground')
    assert len(panoptic['palette']) == 5 and len(set(panoptic['palette'])) == 5
    assert toy_metainfo('semantic') == dict(classes=panoptic['classes'],
                                            palette=panoptic['palette'])
    assert toy_metainfo('instance') == dict(classes=panoptic['thing_classes'],
                                            palette=panoptic['palette'][:3])
    with pytest.raises(ValueError, match='task'):
        toy_metainfo('depth')


def test_find_reuse_and_regenerate(tmp_path):
    out = str(tmp_path / 'toy')
    params = dict(num_train=3, num_val=1, image_size=(32, 32), seed=0)
    assert find_toy_dataset(out, **params) is None
    paths = generate_toy_dataset(out, **params)
    assert find_toy_dataset(out, **params) == paths == toy_dataset_paths(out)
    assert find_toy_dataset(out, **dict(params, seed=1)) is None
    meta = _load(paths['meta'])
    assert meta['status'] == 'complete' and meta['params']['image_size'] == [32, 32]

    # Fewer images: the earlier output is replaced, no stale image stays behind.
    fewer = dict(params, num_train=2)
    generate_toy_dataset(out, **fewer)
    assert find_toy_dataset(out, **params) is None
    assert find_toy_dataset(out, **fewer) == paths
    assert len(os.listdir(paths['ade_img_train'])) == 2
    assert len(os.listdir(paths['coco_img_train'])) == 2

    # An interrupted run is not taken as finished.
    _write_meta(paths['meta'], dict(_load(paths['meta']), status='incomplete'))
    assert find_toy_dataset(out, **fewer) is None

    foreign = tmp_path / 'real'
    (foreign / 'coco').mkdir(parents=True)
    with pytest.raises(FileExistsError, match='no toy_meta.json'):
        generate_toy_dataset(str(foreign), **params)
    assert (foreign / 'coco').is_dir()


def _write_meta(path, meta):
    with open(path, 'w') as f:
        json.dump(meta, f)


def test_cli_generates_once_then_reuses(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / 'cli')
    argv = [CLI, '--out', out, '--num-train', '2', '--num-val', '1', '--size', '32', '48']
    monkeypatch.setattr('sys.argv', argv)
    runpy.run_path(CLI, run_name='__main__')
    first = capsys.readouterr().out
    assert 'generating 2 train + 1 val images of 32x48 (HxW), seed 0' in first
    assert osp.join(out, 'coco') in first
    assert find_toy_dataset(out, num_train=2, num_val=1, image_size=(32, 48), seed=0)
    runpy.run_path(CLI, run_name='__main__')
    assert 'up to date' in capsys.readouterr().out
