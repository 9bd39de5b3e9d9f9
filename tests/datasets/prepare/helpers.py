"""Reading converted COCO files back, and running a converter's command line."""
import json
import os.path as osp
import subprocess
import sys
from typing import List

import numpy as np
from pycocotools import mask as mask_utils

from m2f_mm.datasets.panoptic_png import read_panoptic_png

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

__all__ = ['REPO', 'run_converter', 'panoptic_segments', 'instance_segments']


def run_converter(name: str, root: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f'tools/dataset_converters/{name}.py', root,
                           '--no-progress', *args], cwd=REPO, capture_output=True, text=True)


def panoptic_segments(json_path: str, png_dir: str) -> List[list]:
    """Per image (in file order), sorted (category id, area, is crowd) of its segments,
    after checking each against the PNG (area and box)."""
    with open(json_path) as f:
        data = json.load(f)
    result = []
    for annotation in data['annotations']:
        ids = read_panoptic_png(osp.join(png_dir, annotation['file_name']))
        segments = []
        for segment in annotation['segments_info']:
            mask = ids == segment['id']
            rows, cols = np.nonzero(mask)
            assert segment['area'] == mask.sum()
            assert segment['bbox'] == [cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1]
            segments.append((segment['category_id'], segment['area'], bool(segment['iscrowd'])))
        listed = {s['id'] for s in annotation['segments_info']}
        assert set(np.unique(ids).tolist()) - {0} == listed
        result.append(sorted(segments))
    return result


def instance_segments(json_path: str) -> List[list]:
    """Per image, sorted (category id, area, is crowd) of its instance annotations,
    with each RLE mask's area checked."""
    with open(json_path) as f:
        data = json.load(f)
    per_image = {image['id']: [] for image in data['images']}
    for annotation in data['annotations']:
        assert mask_utils.area(annotation['segmentation']) == annotation['area']
        per_image[annotation['image_id']].append(
            (annotation['category_id'], annotation['area'], bool(annotation['iscrowd'])))
    return [sorted(segments) for segments in per_image.values()]
