"""Mapillary Vistas v1.2: its panoptic JSON checked and put into the form mmdet's
COCO panoptic dataset reads; the PNGs and the semantic labels are used as they are.

Reads, for each split (``training``, ``validation``)::

    {split}/images/NAME.jpg
    {split}/v1.2/panoptic/panoptic_2018.json      COCO-like panoptic, category ids 1..65
    {split}/v1.2/panoptic/NAME.png
    {split}/v1.2/labels/NAME.png                  semantic: 0..64 the classes, 65 unlabelled

and writes ``{split}/v1.2/panoptic_2018_m2f_mm.json``: the same annotations with
the categories in label order (the 37 things, then the 28 stuff), integer image
ids (Mapillary's are the image names) and each image's height and width. Every
annotation is checked against its image, its PNG and the v1.2 category table.
"""
import json
import os.path as osp
from typing import Dict

from mmengine.utils import ProgressBar
from PIL import Image

from m2f_mm.utils.errors import DataError
from ..definitions import mapillary_vistas, panoptic_categories
from .coco_writer import write_json

__all__ = ['SPLITS', 'convert_mapillary_vistas', 'SOURCE_JSON', 'OUTPUT_JSON']

SPLITS = ('training', 'validation')
SOURCE_JSON = 'v1.2/panoptic/panoptic_2018.json'
OUTPUT_JSON = 'v1.2/panoptic_2018_m2f_mm.json'


def convert_mapillary_vistas(root: str, splits=SPLITS, progress: bool = True) -> Dict[str, str]:
    """Check and rewrite the panoptic JSON of each split of ``root`` (layout above).

    Args:
        root: The Mapillary Vistas folder (holding ``training/``, ``validation/``).
        splits: Any of ``'training'``, ``'validation'``.
        progress: Show a progress bar per split.

    Returns:
        The files written, by split.

    Raises:
        DataError: A missing file, another dataset version's categories, or an
            annotation that disagrees with its image or PNG (named).
    """
    categories = panoptic_categories(mapillary_vistas.CLASSES, mapillary_vistas.IS_THING,
                                     mapillary_vistas.PALETTE,
                                     ids=range(1, len(mapillary_vistas.CLASSES) + 1))
    written = {}
    for split in splits:
        source = osp.join(root, split, SOURCE_JSON)
        if not osp.isfile(source):
            raise DataError(f'{source}: not found (expected the Mapillary Vistas v1.2 layout)')
        with open(source) as f:
            data = json.load(f)
        _check_categories(source, data.get('categories', []), categories)
        images = {image['id']: image for image in data.get('images', [])}
        panoptic_dir = osp.dirname(source)
        new_images, new_annotations = [], []
        bar = ProgressBar(len(data['annotations'])) if progress else None
        for annotation in data['annotations']:
            where = f'{source}: annotation {annotation.get("file_name")}'
            image = images.get(annotation['image_id'])
            if image is None:
                raise DataError(f'{where} has image_id {annotation["image_id"]!r}, which is '
                                'not among the images')
            png = osp.join(panoptic_dir, annotation['file_name'])
            if not osp.isfile(osp.join(root, split, 'images', image['file_name'])):
                raise DataError(f'{where}: image {image["file_name"]} not found in '
                                f'{osp.join(root, split, "images")}')
            if not osp.isfile(png):
                raise DataError(f'{where}: PNG not found: {png}')
            with Image.open(png) as opened:
                width, height = opened.size
            if (image.get('width', width), image.get('height', height)) != (width, height):
                raise DataError(f'{where}: the PNG is {width}x{height}, the image entry '
                                f'{image.get("width")}x{image.get("height")}')
            for segment in annotation['segments_info']:
                if not 1 <= segment['category_id'] <= len(mapillary_vistas.CLASSES):
                    raise DataError(f'{where}: segment {segment["id"]} has category_id '
                                    f'{segment["category_id"]}')
                if segment.get('area', 1) <= 0:
                    raise DataError(f'{where}: segment {segment["id"]} has area '
                                    f'{segment["area"]}')
            image_id = len(new_images) + 1
            new_images.append(dict(id=image_id, file_name=image['file_name'], height=height,
                                   width=width))
            new_annotations.append(dict(annotation, image_id=image_id))
            if bar is not None:
                bar.update()
        output = osp.join(root, split, OUTPUT_JSON)
        write_json(dict(info=dict(description=f'Mapillary Vistas v1.2 {split}, checked and '
                                              'reordered by m2f_mm'),
                        images=new_images, annotations=new_annotations, categories=categories),
                   output)
        written[split] = output
    return written


def _check_categories(source: str, found: list, expected: list) -> None:
    """The file's categories must be v1.2's 65, with its names and thing flags."""
    by_id = {c['id']: c for c in found}
    if len(found) != len(expected):
        raise DataError(f'{source}: {len(found)} categories, Mapillary Vistas v1.2 has '
                        f'{len(expected)} (v2.0 has 124 and is not the paper\'s version)')
    for category in expected:
        theirs = by_id.get(category['id'])
        if theirs is None or (theirs['name'], bool(theirs['isthing'])) != (
                category['name'], bool(category['isthing'])):
            raise DataError(f'{source}: category {category["id"]} is {theirs}, v1.2 has '
                            f'{category["name"]!r} (isthing {category["isthing"]})')
