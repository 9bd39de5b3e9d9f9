"""Data loading through mmdet's and mmseg's datasets (each part registered when its
host is installed): COCO panoptic and instance data, and the paper's other
datasets (ADE20K and Cityscapes panoptic and instance, Mapillary Vistas panoptic
and semantic; their class tables in :mod:`m2f_mm.datasets.definitions`, their
converters in :mod:`m2f_mm.datasets.prepare`)."""
from m2f_mm.registry import DATASETS, TRANSFORMS
from m2f_mm.utils.hosts import import_host_part

import_host_part('m2f_mm.datasets.coco', ['mmdet'], DATASETS, ['CocoDataset'])
import_host_part('m2f_mm.datasets.coco_panoptic', ['mmdet'], DATASETS, ['CocoPanopticDataset'])
import_host_part('m2f_mm.datasets.transforms', ['mmdet'], TRANSFORMS,
                 ['LoadCocoPanopticAnnotations'])
import_host_part('m2f_mm.datasets.ade20k', ['mmdet'], DATASETS,
                 ['ADE20KPanopticDataset', 'ADE20KInstanceDataset'])
import_host_part('m2f_mm.datasets.cityscapes', ['mmdet'], DATASETS,
                 ['CityscapesPanopticDataset', 'CityscapesInstanceDataset'])
import_host_part('m2f_mm.datasets.mapillary_vistas', ['mmdet'], DATASETS,
                 ['MapillaryVistasPanopticDataset'])
import_host_part('m2f_mm.datasets.mapillary_vistas_semantic', ['mmseg'], DATASETS,
                 ['MapillaryVistasSemanticDataset'])
