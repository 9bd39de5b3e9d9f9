"""mmdet's COCO instance dataset, with its category and annotation mistakes caught
at start-up; and the category check both COCO datasets share.

mmdet's ``CocoDataset`` skips annotations whose ``category_id`` is not among the
file's categories, and numbers the labels in the file's order whatever the
order of ``metainfo.classes`` (see :mod:`m2f_mm.datasets.categories`).
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

from mmdet.datasets import CocoDataset as MMDetCocoDataset  # noqa: E402

from m2f_mm.registry import DATASETS  # noqa: E402
from m2f_mm.utils.errors import DataError  # noqa: E402
from .categories import check_categories  # noqa: E402

__all__ = ['CheckedCategories', 'CocoDataset']


class CheckedCategories:
    """For mmdet's COCO datasets: :func:`check_categories` on the loaded file,
    before its first image is parsed (mmdet's ``load_data_list`` holds the file
    as ``self.coco`` only while it parses)."""

    _categories_checked = False

    def parse_data_info(self, raw_data_info: dict):
        if not self._categories_checked:
            check_categories(self.ann_file, self.coco.dataset['categories'], self.metainfo)
            self._categories_checked = True
        return super().parse_data_info(raw_data_info)


@DATASETS.register_module()
class CocoDataset(CheckedCategories, MMDetCocoDataset):
    """mmdet's ``CocoDataset`` (same arguments and outputs) that also refuses
    annotations with an unknown ``category_id`` and class names that disagree with
    the file's categories."""

    def parse_data_info(self, raw_data_info: dict):
        image = raw_data_info['raw_img_info']
        known = self.coco.cats
        for annotation in raw_data_info['raw_ann_info']:
            if annotation['category_id'] not in known:
                raise DataError(
                    f'{self.ann_file}: image {image["file_name"]} (id {image["img_id"]}), '
                    f'annotation {annotation.get("id")} has category_id '
                    f'{annotation["category_id"]}, which is not among the file\'s categories '
                    f'{sorted(known)}')
        return super().parse_data_info(raw_data_info)
