"""COCO panoptic quality as an mmengine metric, without panopticapi.

:class:`CocoPanopticPQMetric` replaces mmdet's ``CocoPanopticMetric`` (which
needs panopticapi) as ``val_evaluator``/``test_evaluator`` and reports the same
metric names. It scores each image as it arrives (only per-category counts
are kept and gathered across ranks) and can write the predictions in COCO
panoptic format for outside evaluation or a test server.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet.evaluation.functional import INSTANCE_OFFSET  # noqa: E402
from mmengine.evaluator import BaseMetric  # noqa: E402
from mmengine.fileio import dump, load  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402
from terminaltables import AsciiTable  # noqa: E402

from m2f_mm.datasets.panoptic_png import (PanopticFormatError, id2rgb,  # noqa: E402
                                          read_panoptic_png)
from m2f_mm.registry import METRICS  # noqa: E402
from .panoptic_quality import PQStat, pq_average, pq_stat_single  # noqa: E402

__all__ = ['CocoPanopticPQMetric']

# pq_average group -> suffix of mmdet's metric names (PQ, PQ_th, PQ_st, ...).
_GROUPS = (('All', ''), ('Things', '_th'), ('Stuff', '_st'))


@METRICS.register_module()
class CocoPanopticPQMetric(BaseMetric):
    """PQ, SQ and RQ (All, Things, Stuff) on COCO panoptic annotations.

    Reads from each data sample ``img_id``, ``img_path`` and
    ``pred_panoptic_seg.sem_seg``: a (1, H, W) integer map at the original
    image size holding ``label + instance * INSTANCE_OFFSET`` (mmdet's
    encoding), where the label ``len(dataset_meta['classes'])`` (or the map's
    ``ignore_index``, if set) is VOID. Labels become COCO category ids as in
    mmdet's ``CocoDataset``: label i is the i-th category of ``ann_file``
    whose name is in ``dataset_meta['classes']``, in the file's order.

    Returns ``PQ``, ``SQ``, ``RQ``, ``PQ_th``, ``SQ_th``, ``RQ_th``, ``PQ_st``,
    ``SQ_st``, ``RQ_st`` in percent (under ``prefix``), and logs them as a
    table (per category too with ``classwise``).

    With ``outfile_prefix``, predictions are also written as
    ``<outfile_prefix>.panoptic.json`` (COCO panoptic ``annotations``, with
    COCO category ids) and one PNG per image in ``<outfile_prefix>.panoptic/``
    named after the image; segment ids are renumbered 1, 2, ... per image.

    Args:
        ann_file: COCO panoptic JSON: ``categories`` always, ``annotations``
            unless ``format_only`` (an image-info file suffices then).
        seg_prefix: Folder of the ground-truth PNGs; needed unless ``format_only``.
        classwise: Also log PQ, SQ, RQ and counts per category.
        format_only: Only write the predictions (needs ``outfile_prefix``);
            :meth:`compute_metrics` returns an empty dict.
        outfile_prefix: Path prefix of the written predictions; None writes nothing.
        backend_args: mmengine file backend arguments for ``ann_file`` and
            the ground-truth PNGs.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: Metric name prefix; defaults to ``'coco_panoptic'``.
    """

    default_prefix: Optional[str] = 'coco_panoptic'

    def __init__(self, ann_file: str, seg_prefix: Optional[str] = None, classwise: bool = False,
                 format_only: bool = False, outfile_prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if format_only and outfile_prefix is None:
            raise ValueError('CocoPanopticPQMetric: format_only=True needs outfile_prefix')
        if not format_only and seg_prefix is None:
            raise ValueError('CocoPanopticPQMetric: seg_prefix (the folder of ground-truth '
                             'PNGs) is needed unless format_only=True')
        self.ann_file = ann_file
        self.seg_prefix = seg_prefix
        self.classwise = classwise
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.backend_args = backend_args

        coco = load(ann_file, backend_args=backend_args)
        if 'categories' not in coco:
            raise PanopticFormatError(f'{ann_file}: no "categories"')
        # A list, not a dict: label numbering follows the file's order.
        self.categories: List[dict] = coco['categories']
        self.gt_annotations: Dict[int, dict] = {
            ann['image_id']: ann for ann in coco.get('annotations', [])}

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score (and optionally write) the predictions of one batch.

        Args:
            data_batch: Unused.
            data_samples: The model's outputs as dicts, see the class docstring.
        """
        label2cat = self._label_to_category()
        for sample in data_samples:
            img_id = sample['img_id']
            file_name = osp.splitext(osp.basename(sample['img_path']))[0] + '.png'
            pred_ids, pred_segments = self._to_coco(sample, label2cat)
            if self.outfile_prefix is not None:
                # mmcv.imwrite takes BGR.
                mmcv.imwrite(id2rgb(pred_ids)[..., ::-1],
                             osp.join(f'{self.outfile_prefix}.panoptic', file_name))
            self.results.append(dict(
                stat=None if self.format_only else self._score(img_id, pred_ids, pred_segments),
                annotation=None if self.outfile_prefix is None else dict(
                    image_id=img_id, file_name=file_name, segments_info=pred_segments)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Average the gathered counts; write the JSON if ``outfile_prefix`` is set.

        Args:
            results: The dicts appended by :meth:`process`, from all ranks.

        Returns:
            Metric name -> value in percent; empty with ``format_only``.
        """
        logger = MMLogger.get_current_instance()
        if self.outfile_prefix is not None:
            json_path = f'{self.outfile_prefix}.panoptic.json'
            dump(dict(annotations=[r['annotation'] for r in results]), json_path)
            print_log(f'Panoptic predictions written to {json_path} and '
                      f'{self.outfile_prefix}.panoptic/', logger=logger)
        if self.format_only:
            return {}
        stat = sum((r['stat'] for r in results), PQStat())
        summary = pq_average(stat, {c['id']: bool(c['isthing']) for c in self.categories})
        self._log_tables(summary, logger)
        return {f'{key.upper()}{suffix}': summary[group][key]
                for group, suffix in _GROUPS for key in ('pq', 'sq', 'rq')}

    def _label_to_category(self) -> Dict[int, int]:
        """Contiguous label -> COCO category id, numbered as mmdet's CocoDataset does."""
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            raise ValueError("CocoPanopticPQMetric needs dataset_meta['classes'] "
                             '(the Runner sets it from the dataset)')
        cat_ids = [c['id'] for c in self.categories if c['name'] in classes]
        if len(cat_ids) != len(classes):
            names = {c['name'] for c in self.categories}
            raise PanopticFormatError(f'{self.ann_file}: no category named '
                                      f'{[n for n in classes if n not in names]}')
        return dict(enumerate(cat_ids))

    def _to_coco(self, sample: dict, label2cat: Dict[int, int]) -> Tuple[np.ndarray, List[dict]]:
        """Turn an mmdet panoptic map into a COCO id map and its segments_info.

        Args:
            sample: One data sample (dict) with ``pred_panoptic_seg``.
            label2cat: Contiguous label -> COCO category id.

        Returns:
            (H, W) int32 ids (VOID = 0) and a list of ``dict(id, category_id,
            area)``, one per id 1, 2, ....
        """
        pred = sample['pred_panoptic_seg']
        pan = pred['sem_seg']
        pan = pan.cpu().numpy() if isinstance(pan, torch.Tensor) else np.asarray(pan)
        pan = pan[0]
        void_labels = {len(label2cat), pred.get('ignore_index', len(label2cat))}
        values, inverse, areas = np.unique(pan, return_inverse=True, return_counts=True)
        new_ids = np.zeros(len(values), dtype=np.int32)
        segments = []
        for index, (value, area) in enumerate(zip(values.tolist(), areas.tolist())):
            label = value % INSTANCE_OFFSET
            if label in void_labels:
                continue
            if label not in label2cat:
                raise PanopticFormatError(
                    f'image {sample["img_id"]} ({sample["img_path"]}): predicted label {label} '
                    f'(value {value}) is not a class label or the VOID label {len(label2cat)}')
            new_ids[index] = len(segments) + 1
            segments.append(dict(id=len(segments) + 1, category_id=label2cat[label], area=area))
        return new_ids[inverse.reshape(pan.shape)], segments

    def _score(self, img_id: int, pred_ids: np.ndarray, pred_segments: List[dict]) -> PQStat:
        """Match one image's prediction against its ground-truth PNG and JSON entry."""
        gt = self.gt_annotations.get(img_id)
        if gt is None:
            raise PanopticFormatError(f'{self.ann_file}: no annotation for image id {img_id}')
        gt_path = osp.join(self.seg_prefix, gt['file_name'])
        gt_ids = read_panoptic_png(gt_path, self.backend_args)
        return pq_stat_single(gt_ids, gt['segments_info'], pred_ids, pred_segments,
                              image=gt_path)

    def _log_tables(self, summary: dict, logger: MMLogger) -> None:
        """Log the All/Things/Stuff table and, with ``classwise``, the per-category one."""
        rows = [['', 'PQ', 'SQ', 'RQ', 'categories']]
        rows += [[group] + [f'{summary[group][k]:.3f}' for k in ('pq', 'sq', 'rq')]
                 + [summary[group]['n']] for group, _ in _GROUPS]
        print_log('Panoptic quality:\n' + AsciiTable(rows).table, logger=logger)
        if self.classwise:
            names = {c['id']: c['name'] for c in self.categories}
            rows = [['category', 'PQ', 'SQ', 'RQ', 'TP', 'FP', 'FN']]
            rows += [[names[cat_id]] + [f'{r[k]:.3f}' for k in ('pq', 'sq', 'rq')]
                     + [r['tp'], r['fp'], r['fn']]
                     for cat_id, r in sorted(summary['per_class'].items())]
            print_log('Panoptic quality per category:\n' + AsciiTable(rows).table,
                      logger=logger)
