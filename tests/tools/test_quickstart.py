"""The quickstart main job learns, and tools/test.py reproduces what training logged.

Slow (a few minutes on 2 CPU cores), but it runs in CI. It trains both toy models
on a shorter schedule than the README's, evaluates each checkpoint with
tools/test.py, and compares with the same models at their initial weights.
"""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
from quickstart import TASKS, logged_metrics, save_untrained_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ITERS = 300


@pytest.fixture(scope='module')
def untrained(tmp_path_factory):
    """Metrics of each toy model at its initial weights, from tools/test.py."""
    tmp_path = tmp_path_factory.mktemp('untrained')
    subprocess.run([sys.executable, 'tools/generate_toy_data.py'], cwd=REPO, check=True)
    metrics = {}
    for task, spec in TASKS.items():
        checkpoint = save_untrained_checkpoint(spec['config'], str(tmp_path / f'{task}.pth'))
        subprocess.run([sys.executable, 'tools/test.py', spec['config'], checkpoint,
                        '--work-dir', str(tmp_path / task)], cwd=REPO, check=True,
                       capture_output=True)
        metrics[task] = logged_metrics(str(tmp_path / task))
    return metrics


def _assert_panoptic_learned(pan, untrained_pan):
    assert pan['coco_panoptic/PQ'] > max(25.0, 3 * untrained_pan['coco_panoptic/PQ'])
    assert pan['coco/segm_mAP'] > max(0.15, 3 * untrained_pan['coco/segm_mAP'])
    assert pan['mIoU'] > untrained_pan['mIoU'] + 25.0


@pytest.mark.slow
def test_quickstart_learns_and_test_reproduces_training_metrics(tmp_path, untrained):
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

    _assert_panoptic_learned(summary['panoptic']['metrics'], untrained['panoptic'])
    sem = summary['semantic']['metrics']
    assert sem['mIoU'] > untrained['semantic']['mIoU'] + 25.0


@pytest.mark.slow
def test_bf16_toy_panoptic_run_learns_with_finite_losses(tmp_path, untrained):
    """tools/train.py --amp on CPU (bf16 autocast) on the same schedule (the toy data
    comes from the untrained fixture)."""
    subprocess.run([sys.executable, 'tools/train.py', TASKS['panoptic']['config'], '--amp',
                    '--work-dir', str(tmp_path), '--cfg-options',
                    f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
                    f'param_scheduler.1.end={ITERS}',
                    f'param_scheduler.1.milestones=[{int(ITERS * 0.85)}]'],
                   cwd=REPO, check=True, capture_output=True)
    records = [json.loads(line) for log in tmp_path.glob('*/vis_data/scalars.json')
               for line in log.read_text().splitlines()]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == ITERS // 20 and all(math.isfinite(v) for v in losses)
    _assert_panoptic_learned(logged_metrics(str(tmp_path)), untrained['panoptic'])
