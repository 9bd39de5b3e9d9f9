"""The MaskFormer baseline learns the toy data: PQ, mask AP and mIoU rise well above the
untrained model's.

Slow (about 3 minutes on 2 CPU cores): trains the toy MaskFormer on its own 600-iteration
schedule and evaluates it with tools/test.py, as a user would.
"""
import os.path as osp
import subprocess
import sys

import pytest
from quickstart import logged_metrics, save_untrained_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/toy/maskformer_r18-half_1xb8-600it_toy-panoptic.py'


def _test(checkpoint, work_dir):
    subprocess.run([sys.executable, 'tools/test.py', CONFIG, checkpoint, '--work-dir', work_dir],
                   cwd=REPO, check=True, capture_output=True)
    return logged_metrics(work_dir)


@pytest.mark.slow
def test_toy_maskformer_learns(tmp_path):
    subprocess.run([sys.executable, 'tools/generate_toy_data.py'], cwd=REPO, check=True)
    untrained = _test(save_untrained_checkpoint(CONFIG, str(tmp_path / 'untrained.pth')),
                      str(tmp_path / 'untrained'))
    subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path / 'run'),
                    '--cfg-options', 'default_hooks.checkpoint.interval=600',
                    'default_hooks.checkpoint.max_keep_ckpts=1'],
                   cwd=REPO, check=True, capture_output=True)
    trained = _test(str(tmp_path / 'run' / 'iter_600.pth'), str(tmp_path / 'trained'))
    assert trained['coco_panoptic/PQ'] > max(40.0, 3 * untrained['coco_panoptic/PQ'])
    assert trained['coco/segm_mAP'] > max(0.2, 3 * untrained['coco/segm_mAP'])
    assert trained['mIoU'] > untrained['mIoU'] + 30.0
