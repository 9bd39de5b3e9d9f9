"""Fixtures shared across the test packages."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_TRAIN_ITERS = 200


@pytest.fixture(scope='session')
def trained_toy_checkpoint(tmp_path_factory):
    """``checkpoint(config)``: the path of a checkpoint of a toy config after
    :data:`TOY_TRAIN_ITERS` iterations on the toy data (``tools/train.py``, no
    evaluation), trained at the first request of each config in the session.

    Trained weights, unlike initial ones, keep the masked attention's mask logits away
    from its 0.5 threshold, where rounding differences flip the mask.
    """
    trained = {}

    def checkpoint(config: str) -> str:
        if config not in trained:
            if not trained:
                _run('generate_toy_data.py')
            work_dir = tmp_path_factory.mktemp(osp.splitext(osp.basename(config))[0])
            _run('train.py', config, '--work-dir', str(work_dir), '--cfg-options',
                 f'train_cfg.max_iters={TOY_TRAIN_ITERS}', 'train_cfg.val_begin=1000000',
                 f'default_hooks.checkpoint.interval={TOY_TRAIN_ITERS}',
                 'default_hooks.checkpoint.max_keep_ckpts=1')
            trained[config] = str(work_dir / f'iter_{TOY_TRAIN_ITERS}.pth')
        return trained[config]

    return checkpoint


def _run(script: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, f'tools/{script}', *args], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
