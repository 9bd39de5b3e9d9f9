"""Fixtures shared across the test packages."""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_TRAIN_ITERS = 300


@pytest.fixture(scope='session')
def quickstart_run(tmp_path_factory) -> dict:
    """The quickstart main job (``tools/quickstart.py``) on a schedule of
    :data:`TOY_TRAIN_ITERS` iterations per model, run once per session.

    Returns:
        Its ``metrics.json`` summary (per task: config, checkpoint, metrics, the metrics
        logged at the end of training, visualisations) and, under ``'work_dir'``, its
        work dir.
    """
    work_dir = tmp_path_factory.mktemp('quickstart')
    proc = subprocess.run([sys.executable, 'tools/quickstart.py', '--work-dir', str(work_dir),
                           '--iters', str(TOY_TRAIN_ITERS)], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    with open(work_dir / 'metrics.json') as f:
        return dict(tasks=json.load(f), work_dir=str(work_dir))


@pytest.fixture(scope='session')
def trained_toy_checkpoint(quickstart_run):
    """``checkpoint(config)``: the final checkpoint of a quickstart toy config (see
    :func:`quickstart_run`).

    Trained weights, unlike initial ones, keep the masked attention's mask logits away
    from its 0.5 threshold, where rounding differences flip the mask.
    """
    by_config = {task['config']: task['checkpoint'] for task in quickstart_run['tasks'].values()}

    def checkpoint(config: str) -> str:
        if config not in by_config:
            raise KeyError(f'{config}: the quickstart trains {sorted(by_config)} only')
        return by_config[config]

    return checkpoint
