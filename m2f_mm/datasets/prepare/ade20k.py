"""ADE20K (the SceneParsing release, ``ADEChallengeData2016``, with its instance
annotations) to COCO panoptic and COCO instance files.

Reads, for each split (``training``, ``validation``)::

    images/{split}/NAME.jpg
    annotations/{split}/NAME.png            uint8: 0 void, 1..150 the SceneParsing classes
    annotations_instance/{split}/NAME.png   RGB: R the instance category 1..100 (0 none),
                                            G the instance's number in the image (0 none)

and writes under the same root::

    ade20k_panoptic_{train,val}.json        COCO panoptic; category ids 1..150
    ade20k_panoptic_{train,val}/NAME.png
    ade20k_instance_{train,val}.json        COCO instance (RLE); the 100 thing classes

Stuff segments come from the semantic map and thing segments from the instance
map, painted over it (the two maps disagree at some borders, as the reference's
preparation notes). Pixels of a thing class that no instance covers stay VOID.

Shape letters: H x W image size.
"""
import glob
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from m2f_mm.utils.errors import DataError
from ..definitions import ade20k
from ..definitions import panoptic_categories
from .coco_writer import CocoSegmentationWriter, Segment

__all__ = ['SPLITS', 'convert_ade20k', 'ade20k_segments']

SPLITS = {'train': 'training', 'val': 'validation'}


def ade20k_segments(semantic: np.ndarray, instance: np.ndarray,
                    where: str) -> Tuple[np.ndarray, List[Segment]]:
    """The segment-id map and segments of one image.

    Args:
        semantic: (H, W) uint8 SceneParsing labels, 0 void.
        instance: (H, W, 3) uint8 instance annotation, RGB.
        where: The instance file, for the messages.

    Returns:
        (H, W) int64 ids (stuff: the class id; things: 1000 * class id + the
        instance number) and the segments.

    Raises:
        DataError: Maps of different sizes, a class or instance category out of
            range, or one instance number with two categories.
    """
    if instance.ndim != 3 or instance.shape[:2] != semantic.shape:
        raise DataError(f'{where}: instance map {instance.shape} does not match the semantic '
                        f'map {semantic.shape}')
    if semantic.max(initial=0) > len(ade20k.CLASSES):
        raise DataError(f'{where}: semantic label {semantic.max()} is above '
                        f'{len(ade20k.CLASSES)}')
    ids = np.zeros(semantic.shape, np.int64)
    segments = []
    for value in np.unique(semantic).tolist():
        if value and not ade20k.IS_THING[value - 1]:
            ids[semantic == value] = value
            segments.append(Segment(value, value))
    category, number = instance[..., 0], instance[..., 1]
    for n in np.unique(number[number > 0]).tolist():
        mask = number == n
        categories = np.unique(category[mask])
        if len(categories) != 1 or not 1 <= categories[0] <= len(ade20k.INSTANCE_CLASS_IDS):
            raise DataError(f'{where}: instance {n} has instance categories {categories.tolist()}'
                            f'; one in 1..{len(ade20k.INSTANCE_CLASS_IDS)} expected')
        class_id = ade20k.INSTANCE_CLASS_IDS[int(categories[0]) - 1]
        ids[mask] = 1000 * class_id + n
        segments.append(Segment(1000 * class_id + n, class_id))
    present = set(np.unique(ids).tolist())
    return ids, [s for s in segments if s.id in present]


def convert_ade20k(root: str, splits=tuple(SPLITS), progress: bool = True) -> Dict[str, str]:
    """Convert the splits of ``root`` (``ADEChallengeData2016``; layout above).

    Args:
        root: The dataset folder.
        splits: Any of ``'train'``, ``'val'``.
        progress: Show a progress bar per split.

    Returns:
        The files written, by name (``panoptic_train``, ``instance_val``, ...).

    Raises:
        DataError: A missing folder or annotation, or a bad annotation (named).
    """
    categories = panoptic_categories(ade20k.CLASSES, ade20k.IS_THING, ade20k.PALETTE,
                                     ids=range(1, len(ade20k.CLASSES) + 1))
    written = {}
    for split in splits:
        folder = SPLITS[split]
        images = sorted(glob.glob(osp.join(root, 'images', folder, '*.jpg')))
        if not images:
            raise DataError(f'{osp.join(root, "images", folder)}: no .jpg images (expected the '
                            'ADEChallengeData2016 layout)')
        writer = CocoSegmentationWriter(
            categories, osp.join(root, f'ade20k_panoptic_{split}.json'),
            osp.join(root, f'ade20k_panoptic_{split}'),
            osp.join(root, f'ade20k_instance_{split}.json'), source=f'ADE20K {folder}')
        pairs = [(osp.basename(image), osp.join(root, 'annotations_instance', folder,
                                                osp.basename(image)[:-4] + '.png'))
                 for image in images]

        def segments_of(instance_file: str) -> Tuple[np.ndarray, List[Segment]]:
            semantic = _read(osp.join(root, 'annotations', folder,
                                      osp.basename(instance_file)))
            return ade20k_segments(semantic, _read(instance_file, mode='RGB'), instance_file)

        for kind, path in writer.add_all(pairs, segments_of, progress).items():
            written[f'{kind}_{split}'] = path
    return written


def _read(path: str, mode: str = None) -> np.ndarray:
    if not osp.isfile(path):
        raise DataError(f'{path}: annotation missing')
    image = Image.open(path)
    return np.asarray(image.convert(mode) if mode else image)
