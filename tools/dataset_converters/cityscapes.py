"""Cityscapes gtFine (*_gtFine_instanceIds.png) to COCO panoptic and instance files.

    python tools/dataset_converters/cityscapes.py ROOT [--splits ...] [--no-progress]

ROOT holds leftImg8bit/ and gtFine/; writes annotations/cityscapes_panoptic_{train,val}.json
(+ PNG folders) and annotations/instancesonly_filtered_gtFine_{train,val}.json there.
Needs cityscapesscripts (requirements/optional.txt).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from m2f_mm.datasets.prepare import convert_cityscapes  # noqa: E402
from m2f_mm.datasets.prepare.cityscapes import SPLITS  # noqa: E402
from m2f_mm.datasets.prepare.cli import main  # noqa: E402

if __name__ == '__main__':
    main(convert_cityscapes, SPLITS, __doc__.splitlines()[0])
