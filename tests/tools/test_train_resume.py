"""tools/train.py --resume continues an interrupted run; --amp without a GPU is refused clearly."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from toy_data import generate_toy_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py'


def _train(data_root, work_dir, max_iters, *extra):
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir), *extra,
           '--cfg-options', f'train_dataloader.dataset.data_root={data_root}/',
           f'train_cfg.max_iters={max_iters}', 'train_dataloader.batch_size=2',
           'default_hooks.checkpoint.interval=1', 'val_dataloader=None', 'val_cfg=None',
           'val_evaluator=None']
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    generate_toy_dataset(str(tmp_path / 'toy'), num_train=4, num_val=2, image_size=(64, 64))
    data_root = tmp_path / 'toy' / 'ade'
    first = _train(data_root, tmp_path / 'wd', 2)
    assert first.returncode == 0, first.stderr[-3000:]
    before = torch.load(tmp_path / 'wd' / 'iter_2.pth')
    # "Crash" after iteration 2, then resume from the work dir's latest checkpoint.
    resumed = _train(data_root, tmp_path / 'wd', 3, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 2' in resumed.stdout + resumed.stderr
    after = torch.load(tmp_path / 'wd' / 'iter_3.pth')
    assert after['meta']['iter'] == 3
    # AdamW's step count continues from the checkpoint instead of restarting.
    assert int(after['optimizer']['state'][0]['step']) == 3
    assert int(before['optimizer']['state'][0]['step']) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU refusal')
def test_amp_without_gpu_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--amp', '--work-dir',
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith('train.py: --amp needs a GPU')
