"""Mapillary Vistas v1.2 semantic dataset for mmseg: the 65 classes of
``v1.2/labels/*.png``, whose label 65 ("Unlabeled") is ignored.

mmseg's ``MapillaryDataset_v1`` counts "Unlabeled" as a 66th class; the paper
evaluates 65 (ignore label 65, as the reference sets it).
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmseg')

from mmseg.datasets import BaseSegDataset  # noqa: E402

from m2f_mm.models.targets import IGNORE_INDEX  # noqa: E402
from m2f_mm.registry import DATASETS  # noqa: E402
from .definitions import mapillary_vistas, semantic_metainfo  # noqa: E402

__all__ = ['MapillaryVistasSemanticDataset']


@DATASETS.register_module()
class MapillaryVistasSemanticDataset(BaseSegDataset):
    """Images ``NAME.jpg`` and label maps ``NAME.png``; label 65 becomes the ignore
    index (through mmseg's ``label_map``, with any class subset of the config)."""
    METAINFO = semantic_metainfo(mapillary_vistas.CLASSES, mapillary_vistas.PALETTE)

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    @classmethod
    def get_label_map(cls, new_classes=None) -> dict:
        label_map = super().get_label_map(new_classes) or {}
        return {**label_map, mapillary_vistas.UNLABELED: IGNORE_INDEX}
