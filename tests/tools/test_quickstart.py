"""The quickstart main job learns, and tools/test.py reproduces what training logged.

Slow (a few minutes on 2 CPU cores), but it runs in CI. The session's quickstart run
(``quickstart_run`` in tests/conftest.py, whose checkpoints other tests share) trains
both toy models on a shorter schedule than the README's and evaluates each checkpoint
with tools/test.py; this compares it with the same models at their initial weights.
"""
import json
import math
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from quickstart import TASKS, logged_metrics, save_untrained_checkpoint


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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
def test_quickstart_learns_and_test_reproduces_training_metrics(quickstart_run, untrained):
    summary = quickstart_run['tasks']

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


AMP_ITERS, AMP_LOG_INTERVAL = 60, 5


def _training_losses(work_dir, *options: str) -> list:
    """The logged losses of a short seeded toy panoptic run of tools/train.py."""
    subprocess.run([sys.executable, 'tools/train.py', TASKS['panoptic']['config'], *options,
                    '--work-dir', str(work_dir), '--cfg-options', 'randomness.seed=0',
                    f'train_cfg.max_iters={AMP_ITERS}', 'train_cfg.val_interval=1000000',
                    f'default_hooks.logger.interval={AMP_LOG_INTERVAL}',
                    f'default_hooks.checkpoint.interval={AMP_ITERS}'],
                   cwd=REPO, check=True, capture_output=True)
    records = [json.loads(line) for log in work_dir.glob('*/vis_data/scalars.json')
               for line in log.read_text().splitlines()]
    return [r['loss'] for r in records if 'loss' in r]


@pytest.mark.slow
def test_bf16_toy_training_follows_fp32(tmp_path):
    """tools/train.py --amp on CPU (bf16 autocast) against the same seeded run in fp32:
    finite losses that fall as fast."""
    subprocess.run([sys.executable, 'tools/generate_toy_data.py'], cwd=REPO, check=True)
    bf16 = _training_losses(tmp_path / 'bf16', '--amp')
    fp32 = _training_losses(tmp_path / 'fp32')
    assert len(bf16) == len(fp32) == AMP_ITERS // AMP_LOG_INTERVAL
    assert all(math.isfinite(v) for v in bf16)
    # Both fall well below the start; bf16 ends where fp32 does (rounding, not a bug).
    for losses in (bf16, fp32):
        assert np.mean(losses[-3:]) < 0.7 * losses[0], losses
    assert np.mean(bf16[-3:]) == pytest.approx(np.mean(fp32[-3:]), rel=0.2), (bf16, fp32)
