"""The official Cityscapes instance AP: mmdet's ``CityScapesMetric`` (cityscapesscripts'
evaluation of the ``gtFine`` files), working with current numpy.

cityscapesscripts 2.3.0 (the newest) calls ``np.in1d``, which numpy 2.4 removed, so
mmdet's metric fails at its first image. :class:`CityscapesInstanceMetric` provides
the alias (``np.isin``, which ``np.in1d`` was) while the evaluation runs, and
removes it afterwards.
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

import contextlib  # noqa: E402

import numpy as np  # noqa: E402
from mmdet.evaluation import CityScapesMetric  # noqa: E402

from m2f_mm.registry import METRICS  # noqa: E402

__all__ = ['CityscapesInstanceMetric']


@contextlib.contextmanager
def _numpy_in1d():
    if hasattr(np, 'in1d'):
        yield
        return
    np.in1d = np.isin
    try:
        yield
    finally:
        del np.in1d


@METRICS.register_module()
class CityscapesInstanceMetric(CityScapesMetric):
    """mmdet's ``CityScapesMetric`` (same arguments and outputs: ``mAP`` and ``AP@50``,
    as fractions) that runs with numpy >= 2.4."""

    def compute_metrics(self, results: list) -> dict:
        with _numpy_in1d():
            return super().compute_metrics(results)
