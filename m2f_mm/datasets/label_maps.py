"""Scanning semantic label maps for values that are neither a class nor ignored.

A value at or above ``num_classes`` that is not the ignore index either crashes
the matcher or, when it equals ``num_classes``, trains as the "no object" class.
:func:`find_bad_label` finds the first such value in an mmseg dataset's label
maps, as the dataset's loader would see them (``reduce_zero_label`` and
``label_map`` applied).
"""
from typing import Optional, Tuple

import numpy as np
from mmengine.utils import ProgressBar
from PIL import Image

__all__ = ['find_bad_label']


def _as_loaded(label: np.ndarray, reduce_zero_label: bool, label_map: Optional[dict]) -> np.ndarray:
    """The label map as mmseg's LoadAnnotations gives it."""
    label = label.astype(np.int64)
    if label_map:
        mapped = label.copy()
        for old, new in label_map.items():
            mapped[label == old] = new
        label = mapped
    if reduce_zero_label:
        label = np.where(label == 0, 255, label - 1)
        label[label == 254] = 255
    return label


def find_bad_label(dataset, num_classes: int, ignore_index: int,
                   progress: bool = True) -> Optional[Tuple[str, int]]:
    """The first (seg_map_path, value) with ``num_classes <= value != ignore_index``.

    Args:
        dataset: An mmseg dataset (its ``data_list`` has ``seg_map_path``).
        num_classes: The model's number of classes.
        ignore_index: The model's ignore index.
        progress: Show a progress bar.

    Returns:
        The offending file and value, or None.
    """
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    infos = [info for info in infos if info.get('seg_map_path')]
    bar = ProgressBar(len(infos)) if progress and infos else None
    for info in infos:
        label = _as_loaded(np.asarray(Image.open(info['seg_map_path'])),
                           info.get('reduce_zero_label', False), info.get('label_map'))
        values = np.unique(label)
        bad = values[(values >= num_classes) & (values != ignore_index)]
        if bar is not None:
            bar.update()
        if bad.size:
            return info['seg_map_path'], int(bad[0])
    return None
