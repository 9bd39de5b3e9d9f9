"""Writing COCO panoptic (PNG + JSON) and COCO instance (JSON, RLE masks) annotations
from segment-id maps: the output side of the dataset converters.

A converter turns each image of its source format into an id map (0 is VOID) and
the list of its segments; :class:`CocoSegmentationWriter` writes the panoptic
PNG at once and the JSON files when it is closed, atomically, so that a
converter killed half-way leaves no JSON that looks complete.

Shape letters: H x W image size.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image
from pycocotools import mask as mask_utils

from m2f_mm.engine.checkpoint import fsync_and_replace
from m2f_mm.utils.errors import DataError
from ..panoptic_png import VOID, id2rgb

__all__ = ['Segment', 'CocoSegmentationWriter', 'bbox_of', 'write_json']


class Segment(NamedTuple):
    """One segment of an id map: its id there, its category id, and whether it
    covers a group of things (``iscrowd``)."""
    id: int
    category_id: int
    iscrowd: bool = False


def bbox_of(mask: np.ndarray) -> List[int]:
    """COCO box ``[x, y, w, h]`` of a non-empty (H, W) bool mask."""
    rows, cols = np.nonzero(mask)
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
            int(rows.max() - rows.min() + 1)]


class CocoSegmentationWriter:
    """Collects images and their segments; writes COCO panoptic and instance files.

    Args:
        categories: The panoptic categories (``id``, ``name``, ``isthing``,
            ``color``) in label order: the things, then the stuff.
        panoptic_json: Path of the panoptic JSON.
        panoptic_dir: Folder of the panoptic PNGs (created).
        instance_json: Path of the instance JSON (the thing categories; crowd
            segments with ``iscrowd=1``), or None for none.
        source: Where the annotations come from, for the messages.
    """

    def __init__(self, categories: Sequence[dict], panoptic_json: str, panoptic_dir: str,
                 instance_json: Optional[str] = None, source: str = '') -> None:
        things = [c['isthing'] for c in categories]
        if things != sorted(things, reverse=True):
            raise ValueError('categories must list the things before the stuff')
        self.categories = [dict(c) for c in categories]
        self.is_thing = {c['id']: bool(c['isthing']) for c in categories}
        self.panoptic_json, self.panoptic_dir = panoptic_json, panoptic_dir
        self.instance_json, self.source = instance_json, source
        self.images, self.panoptic, self.instances = [], [], []
        os.makedirs(panoptic_dir, exist_ok=True)

    def add(self, file_name: str, ids: np.ndarray, segments: Sequence[Segment],
            where: str) -> int:
        """Write the panoptic PNG of one image and record its annotations.

        Args:
            file_name: The image's path relative to the image folder; the PNG
                takes its stem (in the same sub-folder).
            ids: (H, W) integer segment ids, VOID where unlabelled.
            segments: Every segment of ``ids``; a segment absent from ``ids``
                is dropped.
            where: The source file, for the messages.

        Returns:
            The image id given (1, 2, ...).

        Raises:
            DataError: An id in ``ids`` that no segment lists, a segment id given
                twice, or an unknown category.
        """
        listed = {s.id for s in segments}
        if len(listed) != len(segments):
            raise DataError(f'{where}: a segment id is given twice')
        present = np.unique(ids)
        unlisted = sorted(set(present.tolist()) - listed - {VOID})
        if unlisted:
            raise DataError(f'{where}: segment ids {unlisted[:5]} have no category')
        image_id = len(self.images) + 1
        height, width = ids.shape
        png_name = osp.splitext(file_name)[0] + '.png'
        png_path = osp.join(self.panoptic_dir, png_name)
        os.makedirs(osp.dirname(png_path), exist_ok=True)
        Image.fromarray(id2rgb(ids)).save(png_path, format='PNG')

        segments_info = []
        for segment in segments:
            if segment.category_id not in self.is_thing:
                raise DataError(f'{where}: category id {segment.category_id} is not among '
                                f'{sorted(self.is_thing)}')
            mask = ids == segment.id
            area = int(mask.sum())
            if not area:
                continue
            info = dict(id=int(segment.id), category_id=int(segment.category_id),
                        iscrowd=int(segment.iscrowd), bbox=bbox_of(mask), area=area)
            segments_info.append(info)
            if self.is_thing[segment.category_id]:
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                rle['counts'] = rle['counts'].decode('ascii')
                self.instances.append(dict(info, id=len(self.instances) + 1,
                                           image_id=image_id, segmentation=rle))
        self.images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
        self.panoptic.append(dict(image_id=image_id, file_name=png_name,
                                  segments_info=segments_info))
        return image_id

    def add_all(self, images: Sequence[Tuple[str, str]],
                segments_of: Callable[[str], Tuple[np.ndarray, List[Segment]]],
                progress: bool) -> Dict[str, str]:
        """:meth:`add` every image, then :meth:`close`.

        Args:
            images: ``(file_name, annotation file)`` pairs.
            segments_of: The id map and segments of an annotation file.
            progress: Show a progress bar.

        Returns:
            The JSON files written, by kind (``panoptic``, ``instance``).
        """
        bar = ProgressBar(len(images)) if progress else None
        for file_name, annotation in images:
            self.add(file_name, *segments_of(annotation), where=annotation)
            if bar is not None:
                bar.update()
        self.close()
        return dict(panoptic=self.panoptic_json, instance=self.instance_json)

    def close(self) -> None:
        """Write the JSON files (atomically); the PNGs are written already."""
        info = dict(description=f'converted by m2f_mm from {self.source}')
        write_json(dict(info=info, images=self.images, annotations=self.panoptic,
                        categories=self.categories), self.panoptic_json)
        if self.instance_json:
            things = [dict(id=c['id'], name=c['name']) for c in self.categories if c['isthing']]
            write_json(dict(info=info, images=self.images, annotations=self.instances,
                            categories=things), self.instance_json)


def write_json(obj: dict, path: str) -> None:
    """Write ``obj`` to ``path`` as JSON, atomically (no half-written file on a crash)."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = f'{path}.partial'
    with open(tmp, 'w') as f:
        json.dump(obj, f)
    fsync_and_replace(tmp, path)
