"""Panoptic quality without panopticapi, and the metrics; importing this package registers them."""
from .panoptic_metric import CocoPanopticPQMetric
from .panoptic_quality import (PanopticFormatError, PQStat, id2rgb, pq_average, pq_stat_single,
                               read_panoptic_png, rgb2id)
from .semantic_metric import DetSemSegIoUMetric

__all__ = ['CocoPanopticPQMetric', 'DetSemSegIoUMetric', 'PanopticFormatError', 'PQStat',
           'id2rgb', 'pq_average', 'pq_stat_single', 'read_panoptic_png', 'rgb2id']
