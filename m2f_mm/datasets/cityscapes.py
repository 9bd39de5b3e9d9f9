"""Cityscapes panoptic and instance datasets: mmdet's datasets (with m2f_mm's
checks) carrying Cityscapes' classes, for the files that
``tools/dataset_converters/cityscapes.py`` writes
(:mod:`m2f_mm.datasets.prepare.cityscapes`). The semantic task uses mmseg's
``CityscapesDataset``.
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

from mmdet.datasets import CityscapesDataset as MMDetCityscapesDataset  # noqa: E402

from m2f_mm.registry import DATASETS  # noqa: E402
from .coco import CocoDataset  # noqa: E402
from .coco_panoptic import CocoPanopticDataset  # noqa: E402
from .definitions import cityscapes, instance_metainfo, panoptic_metainfo  # noqa: E402

__all__ = ['CityscapesPanopticDataset', 'CityscapesInstanceDataset']


@DATASETS.register_module()
class CityscapesPanopticDataset(CocoPanopticDataset):
    """Cityscapes panoptic: 19 classes, the 8 things first, then 11 stuff classes."""
    METAINFO = panoptic_metainfo(cityscapes.CLASSES, cityscapes.IS_THING, cityscapes.PALETTE)


@DATASETS.register_module()
class CityscapesInstanceDataset(CocoDataset, MMDetCityscapesDataset):
    """Cityscapes instance segmentation: mmdet's ``CityscapesDataset`` (which drops
    images without a non-crowd instance from training) with m2f_mm's checks."""
    METAINFO = instance_metainfo(cityscapes.CLASSES, cityscapes.IS_THING, cityscapes.PALETTE)
