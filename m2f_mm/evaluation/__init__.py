"""Panoptic quality without panopticapi; importing this package registers the metric."""
from .panoptic_metric import CocoPanopticPQMetric
from .semantic_metric import DetSemSegIoUMetric
from .panoptic_quality import (PanopticFormatError, PQStat, id2rgb, pq_average, pq_stat_single,
                               read_panoptic_png, rgb2id)

__all__ = ['CocoPanopticPQMetric', 'DetSemSegIoUMetric', 'PanopticFormatError', 'PQStat', 'id2rgb', 'pq_average',
           'pq_stat_single', 'read_panoptic_png', 'rgb2id']
