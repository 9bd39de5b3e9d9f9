"""Mapillary Vistas v1.2 panoptic dataset: mmdet's COCO panoptic dataset (with
m2f_mm's checks) carrying its 65 classes, for the JSON that
``tools/dataset_converters/mapillary_vistas.py`` writes
(:mod:`m2f_mm.datasets.prepare.mapillary_vistas`).
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

from m2f_mm.registry import DATASETS  # noqa: E402
from .coco_panoptic import CocoPanopticDataset  # noqa: E402
from .definitions import mapillary_vistas, panoptic_metainfo  # noqa: E402

__all__ = ['MapillaryVistasPanopticDataset']


@DATASETS.register_module()
class MapillaryVistasPanopticDataset(CocoPanopticDataset):
    """Mapillary Vistas v1.2 panoptic: 65 classes, the 37 things first, then 28 stuff
    classes."""
    METAINFO = panoptic_metainfo(mapillary_vistas.CLASSES, mapillary_vistas.IS_THING,
                                 mapillary_vistas.PALETTE)
