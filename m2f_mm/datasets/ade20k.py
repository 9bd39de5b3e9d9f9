"""ADE20K panoptic and instance datasets: mmdet's COCO datasets (with m2f_mm's checks)
carrying ADE20K's classes, for the files that ``tools/dataset_converters/ade20k.py``
writes (:mod:`m2f_mm.datasets.prepare.ade20k`). The semantic task uses mmseg's
``ADE20KDataset``.
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

from m2f_mm.registry import DATASETS  # noqa: E402
from .coco import CocoDataset  # noqa: E402
from .coco_panoptic import CocoPanopticDataset  # noqa: E402
from .definitions import ade20k, instance_metainfo, panoptic_metainfo  # noqa: E402

__all__ = ['ADE20KPanopticDataset', 'ADE20KInstanceDataset']


@DATASETS.register_module()
class ADE20KPanopticDataset(CocoPanopticDataset):
    """ADE20K panoptic: 150 classes, the 100 things of its instance annotations
    first, then 50 stuff classes."""
    METAINFO = panoptic_metainfo(ade20k.CLASSES, ade20k.IS_THING, ade20k.PALETTE)


@DATASETS.register_module()
class ADE20KInstanceDataset(CocoDataset):
    """ADE20K instance segmentation: its 100 thing classes."""
    METAINFO = instance_metainfo(ade20k.CLASSES, ade20k.IS_THING, ade20k.PALETTE)
