"""ADE20K (ADEChallengeData2016 + instance annotations) to COCO panoptic and instance files.

    python tools/dataset_converters/ade20k.py ROOT [--splits ...] [--no-progress]

ROOT is ADEChallengeData2016/; writes ade20k_panoptic_{train,val}.json (+ PNG folders) and
ade20k_instance_{train,val}.json there.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from m2f_mm.datasets.prepare import convert_ade20k  # noqa: E402
from m2f_mm.datasets.prepare.ade20k import SPLITS  # noqa: E402
from m2f_mm.datasets.prepare.cli import main  # noqa: E402

if __name__ == '__main__':
    main(convert_ade20k, SPLITS, __doc__.splitlines()[0])
