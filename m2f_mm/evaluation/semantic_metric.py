"""mIoU of a model trained through mmdet (the panoptic model's semantic output)."""
from typing import Sequence

from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet', 'mmseg')

from mmseg.evaluation import IoUMetric  # noqa: E402

from m2f_mm.registry import METRICS  # noqa: E402

__all__ = ['DetSemSegIoUMetric']


@METRICS.register_module()
class DetSemSegIoUMetric(IoUMetric):
    """mmseg's IoUMetric read from mmdet data samples.

    mmdet stores semantic maps as ``PixelData(sem_seg=...)`` where mmseg uses
    ``PixelData(data=...)``; the maps themselves (labels, 255 = ignore) are the
    same, so the samples are renamed and mmseg's metric does the rest. Needs
    ``gt_sem_seg`` in the samples (a loading transform with ``with_seg=True``)
    and a detector that emits ``pred_sem_seg`` (``test_cfg.semantic_on=True``).
    """

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        renamed = []
        for sample in data_samples:
            for key in ('pred_sem_seg', 'gt_sem_seg'):
                if key not in sample:
                    raise KeyError(f'DetSemSegIoUMetric: data samples have no {key}; set '
                                   'test_cfg.semantic_on=True and load annotations with '
                                   'with_seg=True')
            renamed.append(dict(sample, pred_sem_seg=dict(data=sample['pred_sem_seg']['sem_seg']),
                                gt_sem_seg=dict(data=sample['gt_sem_seg']['sem_seg'])))
        super().process(data_batch, renamed)
