"""Convert a HF Mask2Former (model directory, .safetensors or .bin) into an m2f_mm checkpoint.

    python tools/model_converters/convert_hf.py SRC CONFIG OUT.pth [--reset-classes]

OUT.pth loads with ``tools/test.py CONFIG OUT.pth`` and as ``load_from``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from m2f_mm.converters.cli import main  # noqa: E402

if __name__ == '__main__':
    main('hf', __doc__.splitlines()[0])
