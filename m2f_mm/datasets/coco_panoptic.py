"""mmdet's COCO panoptic dataset, with its annotation mistakes caught at start-up.

mmdet's ``CocoPanopticDataset`` raises a bare KeyError for a segment whose
category is not among the file's categories, and silently drops a segment whose
JSON area is 0 (its image then trains without it). This subclass stops with
one line naming the file, the image and the segment before training starts,
as it does for class names that disagree with the file's categories
(:class:`~m2f_mm.datasets.coco.CheckedCategories`).
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

from mmdet.datasets import CocoPanopticDataset as MMDetCocoPanopticDataset  # noqa: E402

from m2f_mm.registry import DATASETS  # noqa: E402
from .coco import CheckedCategories  # noqa: E402
from .panoptic_png import PanopticFormatError  # noqa: E402

__all__ = ['CocoPanopticDataset']


@DATASETS.register_module()
class CocoPanopticDataset(CheckedCategories, MMDetCocoPanopticDataset):
    """mmdet's ``CocoPanopticDataset`` (same arguments and outputs) that refuses
    segments with an unknown ``category_id`` or a zero ``area``, and class names
    or a thing/stuff split that disagree with the file's categories."""

    def parse_data_info(self, raw_data_info: dict) -> dict:
        image = raw_data_info['raw_img_info']
        for segment in raw_data_info['raw_ann_info']:
            if segment['image_id'] != image['img_id']:
                continue
            where = (f'{self.ann_file}: image {image["file_name"]} (id {image["img_id"]}), '
                     f'segment {segment["id"]}')
            if segment['category_id'] not in self.cat2label:
                raise PanopticFormatError(
                    f'{where} has category_id {segment["category_id"]}, which is not among '
                    f'the file\'s categories {sorted(self.cat2label)}')
            if segment['area'] <= 0:
                raise PanopticFormatError(
                    f'{where} has area {segment["area"]} in the JSON; give its true pixel '
                    'count, or remove the segment from segments_info and its pixels from '
                    'the PNG')
        return super().parse_data_info(raw_data_info)
