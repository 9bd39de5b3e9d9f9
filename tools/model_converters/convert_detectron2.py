"""Convert the reference Mask2Former's detectron2 model zoo (.pkl) into an m2f_mm checkpoint.

    python tools/model_converters/convert_detectron2.py SRC CONFIG OUT.pth [--reset-classes]

OUT.pth loads with ``tools/test.py CONFIG OUT.pth`` and as ``load_from``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from m2f_mm.converters.cli import main  # noqa: E402

if __name__ == '__main__':
    main('detectron2', __doc__.splitlines()[0])
