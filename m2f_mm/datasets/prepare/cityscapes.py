"""Cityscapes (``gtFine``) to COCO panoptic and COCO instance files.

Reads, for each split (``train``, ``val``)::

    leftImg8bit/{split}/CITY/NAME_leftImg8bit.png
    gtFine/{split}/CITY/NAME_gtFine_instanceIds.png   16-bit: a label id below 1000,
                                                      1000 * label id + k for instance k

and writes under the same root::

    annotations/cityscapes_panoptic_{split}.json       COCO panoptic; category ids are
    annotations/cityscapes_panoptic_{split}/CITY/...   Cityscapes label ids (road 7, ...)
    annotations/instancesonly_filtered_gtFine_{split}.json   COCO instance, the 8 things

The label table is cityscapesscripts' (``cityscapesscripts.helpers.labels``, the
official definition): labels with ``ignoreInEval`` become VOID, a thing label
without an instance number (a group of people, say) is one ``iscrowd`` segment,
as in cityscapesscripts' own panoptic conversion. The id map is the instance-id
map itself.

Shape letters: H x W image size.
"""
import glob
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from m2f_mm.utils.errors import DataError
from ..definitions import cityscapes, panoptic_categories
from ..panoptic_png import VOID
from .coco_writer import CocoSegmentationWriter, Segment

__all__ = ['SPLITS', 'convert_cityscapes', 'cityscapes_segments', 'official_labels']

SPLITS = ('train', 'val')
IMAGE_SUFFIX, ANNOTATION_SUFFIX = '_leftImg8bit.png', '_gtFine_instanceIds.png'


def official_labels() -> Dict[int, object]:
    """cityscapesscripts' labels by label id (the package is an optional requirement)."""
    try:
        from cityscapesscripts.helpers.labels import id2label
    except ImportError:
        raise DataError('the Cityscapes converter needs cityscapesscripts: '
                        'pip install -r requirements/optional.txt') from None
    return id2label


def cityscapes_segments(instance_ids: np.ndarray, labels: Dict[int, object],
                        where: str) -> Tuple[np.ndarray, List[Segment]]:
    """The segment-id map and segments of one ``*_gtFine_instanceIds.png``.

    Args:
        instance_ids: (H, W) integer instance-id map.
        labels: cityscapesscripts' labels by label id.
        where: The file, for the messages.

    Returns:
        (H, W) int64 ids (the map, VOID on labels ignored in evaluation) and the
        segments.

    Raises:
        DataError: An unknown label id, or an instance number on a label
            without instances.
    """
    ids = instance_ids.astype(np.int64)
    segments = []
    for value in np.unique(ids):
        label_id = int(value // 1000 if value >= 1000 else value)
        label = labels.get(label_id)
        if label is None:
            raise DataError(f'{where}: label id {label_id} is not a Cityscapes label')
        if label.ignoreInEval:
            ids[ids == value] = VOID
        elif value >= 1000 and not label.hasInstances:
            raise DataError(f'{where}: value {value} gives an instance to {label.name!r}, '
                            'which has none')
        else:
            segments.append(Segment(int(value), label_id,
                                    iscrowd=value < 1000 and label.hasInstances))
    return ids, segments


def convert_cityscapes(root: str, splits=SPLITS, progress: bool = True) -> Dict[str, str]:
    """Convert the splits of ``root`` (the Cityscapes folder; layout above).

    Args:
        root: The folder holding ``leftImg8bit/`` and ``gtFine/``.
        splits: Any of ``'train'``, ``'val'``.
        progress: Show a progress bar per split.

    Returns:
        The files written, by name (``panoptic_train``, ``instance_val``, ...).

    Raises:
        DataError: A missing folder or annotation, or a bad annotation (named).
    """
    labels = official_labels()
    _check_definitions(labels)
    categories = panoptic_categories(cityscapes.CLASSES, cityscapes.IS_THING,
                                     cityscapes.PALETTE, ids=cityscapes.LABEL_IDS)
    written = {}
    for split in splits:
        image_dir = osp.join(root, 'leftImg8bit', split)
        images = sorted(glob.glob(osp.join(image_dir, '*', f'*{IMAGE_SUFFIX}')))
        if not images:
            raise DataError(f'{image_dir}: no CITY/*{IMAGE_SUFFIX} images (expected the '
                            'Cityscapes layout)')
        annotations = osp.join(root, 'annotations')
        writer = CocoSegmentationWriter(
            categories, osp.join(annotations, f'cityscapes_panoptic_{split}.json'),
            osp.join(annotations, f'cityscapes_panoptic_{split}'),
            osp.join(annotations, f'instancesonly_filtered_gtFine_{split}.json'),
            source=f'Cityscapes gtFine {split}')
        names = [osp.relpath(image, image_dir) for image in images]  # CITY/NAME_leftImg8bit.png
        pairs = [(name, osp.join(root, 'gtFine', split,
                                 name[:-len(IMAGE_SUFFIX)] + ANNOTATION_SUFFIX)) for name in names]

        def segments_of(annotation: str) -> Tuple[np.ndarray, List[Segment]]:
            if not osp.isfile(annotation):
                raise DataError(f'{annotation}: annotation missing')
            return cityscapes_segments(np.asarray(Image.open(annotation)), labels, annotation)

        for kind, path in writer.add_all(pairs, segments_of, progress).items():
            written[f'{kind}_{split}'] = path
    return written


def _check_definitions(labels: Dict[int, object]) -> None:
    """Our class table (used without cityscapesscripts) must be the official one."""
    official = [(label.name, label.id, label.hasInstances)
                for label in sorted(labels.values(), key=lambda label: label.trainId)
                if not label.ignoreInEval]
    ours = list(zip(cityscapes.CLASSES, cityscapes.LABEL_IDS, cityscapes.IS_THING))
    if official != ours:
        raise DataError(f'cityscapesscripts labels {official} differ from '
                        'm2f_mm.datasets.definitions.cityscapes')
