"""The quickstart main job learns, and tools/test.py reproduces what training logged.

Slow (a few minutes on 2 CPU cores), but it runs in CI. It trains both toy models
on a shorter schedule than the README's, evaluates each checkpoint with
tools/test.py, and compares with the same models at their initial weights.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest
from quickstart import logged_metrics, save_untrained_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ITERS = 300


def _untrained_metrics(config, tmp_path, task):
    """Evaluate the model at its initial weights with tools/test.py."""
    checkpoint = save_untrained_checkpoint(config, str(tmp_path / f'{task}_untrained.pth'))
    work_dir = tmp_path / f'{task}_untrained'
    subprocess.run([sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
                    str(work_dir)], cwd=REPO, check=True, capture_output=True)
    return logged_metrics(str(work_dir))


@pytest.mark.slow
def test_quickstart_learns_and_test_reproduces_training_metrics(tmp_path):
    subprocess.run([sys.executable, 'tools/quickstart.py', '--work-dir', str(tmp_path / 'qs'),
                    '--iters', str(ITERS)], cwd=REPO, check=True)
    summary = json.loads((tmp_path / 'qs' / 'metrics.json').read_text())

    for task, result in summary.items():
        # tools/test.py on the final checkpoint gives what the training run logged.
        for key, value in result['metrics'].items():
            assert value == pytest.approx(result['logged_at_end_of_training'][key], abs=0.02), \
                f'{task} {key}'
        assert len(result['visualisations']) == 4
        assert all(p.endswith('.png') and osp.isfile(p) for p in result['visualisations'])

    pan = summary['panoptic']['metrics']
    untrained_pan = _untrained_metrics(summary['panoptic']['config'], tmp_path, 'panoptic')
    assert pan['coco_panoptic/PQ'] > max(25.0, 3 * untrained_pan['coco_panoptic/PQ'])
    assert pan['coco/segm_mAP'] > max(0.15, 3 * untrained_pan['coco/segm_mAP'])
    assert pan['mIoU'] > untrained_pan['mIoU'] + 25.0

    sem = summary['semantic']['metrics']
    untrained_sem = _untrained_metrics(summary['semantic']['config'], tmp_path, 'semantic')
    assert sem['mIoU'] > untrained_sem['mIoU'] + 25.0
