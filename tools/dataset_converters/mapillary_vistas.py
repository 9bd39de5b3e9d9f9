"""Mapillary Vistas v1.2: check its panoptic JSON and write the one m2f_mm's dataset reads.

    python tools/dataset_converters/mapillary_vistas.py ROOT [--splits ...] [--no-progress]

ROOT holds training/ and validation/; writes {split}/v1.2/panoptic_2018_m2f_mm.json (the PNGs
and the semantic labels are used as they are).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from m2f_mm.datasets.prepare import convert_mapillary_vistas  # noqa: E402
from m2f_mm.datasets.prepare.mapillary_vistas import SPLITS  # noqa: E402
from m2f_mm.datasets.prepare.cli import main  # noqa: E402

if __name__ == '__main__':
    main(convert_mapillary_vistas, SPLITS, __doc__.splitlines()[0])
