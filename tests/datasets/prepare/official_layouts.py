"""Tiny datasets in the official download layouts of ADE20K, Cityscapes and Mapillary
Vistas v1.2, written for the converter and config tests.

Every image holds two stuff regions split by a void band, and things: ADE20K has
instances and a thing-class region no instance covers (void after conversion);
Cityscapes has instances, a crowd (a thing label without instance number) and
pixels of a label ignored in evaluation; Mapillary has an ``iscrowd`` segment.
Images are (H, W) = (64, 96), with a different object layout per image.
"""
import json
import os
import os.path as osp
from typing import Dict, List

import numpy as np
from PIL import Image

from m2f_mm.datasets.definitions import ade20k, mapillary_vistas
from m2f_mm.datasets.panoptic_png import id2rgb

H, W = 64, 96

__all__ = ['H', 'W', 'write_ade20k', 'write_cityscapes', 'write_mapillary_vistas']


def _boxes(index: int) -> List[tuple]:
    """Two non-overlapping boxes (y0, y1, x0, x1) in the lower half, moving with index."""
    x = 4 + 8 * index
    return [(36, 60, x, x + 20), (40, 58, x + 30, x + 50)]


def _image(index: int, labels: np.ndarray) -> np.ndarray:
    """An RGB image whose colours follow the labels (so a model could learn them)."""
    rng = np.random.default_rng(index)
    colours = rng.integers(0, 256, (int(labels.max()) + 1, 3))
    return np.clip(colours[labels] + rng.integers(-10, 10, labels.shape + (3,)), 0,
                   255).astype(np.uint8)


def _save(array: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def write_ade20k(root: str, num_images: Dict[str, int] = None) -> Dict[str, list]:
    """``ADEChallengeData2016`` with ``annotations_instance``.

    Semantic: sky (3) above, floor (4) below, a void band (0) between; a person (13)
    and a car (21) instance; a chair (20) region covered by no instance.

    Returns:
        Per split, per image, the expected segments as (category id, area, is crowd).
    """
    num_images = num_images or dict(training=2, validation=2)
    person, car, chair = 13, 21, 20
    instance_category = {c: ade20k.INSTANCE_CLASS_IDS.index(c) + 1 for c in (person, car, chair)}
    expected = {}
    for folder, count in num_images.items():
        expected[folder] = []
        for index in range(count):
            name = f'ADE_{folder[:5]}_{index + 1:08d}'
            semantic = np.full((H, W), 3, np.uint8)
            semantic[H // 2:] = 4
            semantic[28:32] = 0
            instance = np.zeros((H, W, 3), np.uint8)
            segments = []
            for number, (category, (y0, y1, x0, x1)) in enumerate(
                    zip((person, car), _boxes(index)), start=1):
                semantic[y0:y1, x0:x1] = category
                instance[y0:y1, x0:x1, 0] = instance_category[category]
                instance[y0:y1, x0:x1, 1] = number
                segments.append((category, (y1 - y0) * (x1 - x0), False))
            semantic[2:10, 80:90] = chair  # a thing class with no instance: void
            segments += [(3, int((semantic == 3).sum()), False),
                         (4, int((semantic == 4).sum()), False)]
            expected[folder].append(sorted(segments))
            _save(_image(index, semantic), osp.join(root, 'images', folder, f'{name}.jpg'))
            _save(semantic, osp.join(root, 'annotations', folder, f'{name}.png'))
            _save(instance, osp.join(root, 'annotations_instance', folder, f'{name}.png'))
    return expected


def write_cityscapes(root: str, num_images: Dict[str, int] = None) -> Dict[str, list]:
    """``leftImg8bit`` and ``gtFine`` (``*_gtFine_instanceIds.png``, 16-bit).

    Label ids: sky (23) above, road (7) below, 'static' (4, ignored in evaluation)
    between; car instances 26000 and 26001; a person crowd (24, no instance number).

    Returns:
        Per split, per image, the expected segments as (category id, area, is crowd).
    """
    num_images = num_images or dict(train=2, val=2)
    expected = {}
    for split, count in num_images.items():
        expected[split] = []
        for index in range(count):
            city = 'aachen' if index % 2 == 0 else 'bonn'
            name = f'{city}_{index:06d}_000019'
            ids = np.full((H, W), 23, np.int32)
            ids[H // 2:] = 7
            ids[28:32] = 4
            segments = []
            for number, (y0, y1, x0, x1) in enumerate(_boxes(index)):
                ids[y0:y1, x0:x1] = 26000 + number
                segments.append((26, (y1 - y0) * (x1 - x0), False))
            ids[2:12, 70:90] = 24  # a group of people: crowd
            segments += [(24, 200, True), (23, int((ids == 23).sum()), False),
                         (7, int((ids == 7).sum()), False)]
            expected[split].append(sorted(segments))
            _save(_image(index, np.where(ids >= 1000, ids // 1000, ids)),
                  osp.join(root, 'leftImg8bit', split, city, f'{name}_leftImg8bit.png'))
            path = osp.join(root, 'gtFine', split, city, f'{name}_gtFine_instanceIds.png')
            os.makedirs(osp.dirname(path), exist_ok=True)
            Image.fromarray(ids.astype(np.uint16)).save(path)
    return expected


def write_mapillary_vistas(root: str, num_images: Dict[str, int] = None) -> Dict[str, list]:
    """``{split}/images``, ``{split}/v1.2/panoptic`` (``panoptic_2018.json``, with the
    images' names as ids and the categories in id order) and ``{split}/v1.2/labels``.

    Sky (28) above, road (14) below, unlabelled (65) between; car (56) instances;
    a person (20) crowd.

    Returns:
        Per split, per image, the expected segments as (category id, area, is crowd).
    """
    num_images = num_images or dict(training=2, validation=2)
    categories = [dict(id=i + 1, name=name, isthing=int(thing), color=list(color),
                       supercategory='')
                  for i, (name, thing, color) in enumerate(zip(
                      mapillary_vistas.CLASSES, mapillary_vistas.IS_THING,
                      mapillary_vistas.PALETTE))]
    expected = {}
    for split, count in num_images.items():
        expected[split] = []
        images, annotations = [], []
        for index in range(count):
            name = f'{split[:3]}Xq{index}_a-B'
            semantic = np.full((H, W), 27, np.uint8)  # label = category id - 1
            semantic[H // 2:] = 13
            semantic[28:32] = mapillary_vistas.UNLABELED
            ids = np.zeros((H, W), np.int64)
            ids[semantic == 27], ids[semantic == 13] = 1, 2
            segments_info = [dict(id=1, category_id=28, iscrowd=0),
                             dict(id=2, category_id=14, iscrowd=0)]
            for number, (y0, y1, x0, x1) in enumerate(_boxes(index)):
                semantic[y0:y1, x0:x1] = 55
                ids[y0:y1, x0:x1] = 10 + number
                segments_info.append(dict(id=10 + number, category_id=56, iscrowd=0))
            semantic[2:12, 70:90] = 19
            ids[2:12, 70:90] = 20
            segments_info.append(dict(id=20, category_id=20, iscrowd=1))
            for segment in segments_info:
                mask = ids == segment['id']
                rows, cols = np.nonzero(mask)
                segment.update(area=int(mask.sum()),
                               bbox=[int(cols.min()), int(rows.min()),
                                     int(np.ptp(cols) + 1), int(np.ptp(rows) + 1)])
            expected[split].append(sorted((s['category_id'], s['area'], bool(s['iscrowd']))
                                          for s in segments_info))
            _save(_image(index, semantic), osp.join(root, split, 'images', f'{name}.jpg'))
            _save(id2rgb(ids), osp.join(root, split, 'v1.2', 'panoptic', f'{name}.png'))
            _save(semantic, osp.join(root, split, 'v1.2', 'labels', f'{name}.png'))
            images.append(dict(id=name, file_name=f'{name}.jpg', height=H, width=W))
            annotations.append(dict(image_id=name, file_name=f'{name}.png',
                                    segments_info=segments_info))
        with open(osp.join(root, split, 'v1.2', 'panoptic', 'panoptic_2018.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return expected
