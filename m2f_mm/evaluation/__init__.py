"""Panoptic quality without panopticapi, and the metrics for the Runner.

:mod:`.panoptic_quality` needs no host library; the metrics read mmdet's data
samples and are registered when their host libraries are installed.
"""
from m2f_mm.registry import METRICS
from m2f_mm.utils.hosts import import_host_part
from .panoptic_quality import PQStat, pq_average, pq_stat_single

import_host_part('m2f_mm.evaluation.panoptic_metric', ['mmdet'], METRICS,
                 ['CocoPanopticPQMetric'])
import_host_part('m2f_mm.evaluation.semantic_metric', ['mmdet', 'mmseg'], METRICS,
                 ['DetSemSegIoUMetric'])
import_host_part('m2f_mm.evaluation.cityscapes_metric', ['mmdet'], METRICS,
                 ['CityscapesInstanceMetric'])

__all__ = ['PQStat', 'pq_average', 'pq_stat_single']
