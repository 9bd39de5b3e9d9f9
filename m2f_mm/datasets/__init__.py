"""Data loading for COCO panoptic and instance data through mmdet's datasets
(registered when mmdet is installed)."""
from m2f_mm.registry import DATASETS, TRANSFORMS
from m2f_mm.utils.hosts import import_host_part

import_host_part('m2f_mm.datasets.coco', ['mmdet'], DATASETS, ['CocoDataset'])
import_host_part('m2f_mm.datasets.coco_panoptic', ['mmdet'], DATASETS, ['CocoPanopticDataset'])
import_host_part('m2f_mm.datasets.transforms', ['mmdet'], TRANSFORMS,
                 ['LoadCocoPanopticAnnotations'])
