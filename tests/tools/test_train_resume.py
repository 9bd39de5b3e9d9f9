"""Nothing lost when a job dies: tools/train.py runs killed for real (SIGKILL), resumed.

Every run trains the toy semantic model for 8 iterations on 64x64 images with a
checkpoint every 2 and ``randomness.deterministic=True``. The crashes come from
test-only hooks (tests/engine/_crash.py) that SIGKILL the process before an
iteration or half-way through writing a checkpoint.
"""
import os.path as osp
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from toy_data import generate_toy_dataset

from tests.utils.test_work_dir_lock import _holder

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py')
ITERS = 8


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    generate_toy_dataset(str(root), num_train=6, num_val=2, image_size=(64, 64))
    return root / 'ade'


def _train(data_root, work_dir, *extra, config=CONFIG):
    cmd = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir), *extra,
           '--cfg-options', f'train_dataloader.dataset.data_root={data_root}/',
           f'train_cfg.max_iters={ITERS}', 'train_dataloader.batch_size=2',
           'default_hooks.checkpoint.interval=2', 'randomness.deterministic=True',
           'val_dataloader=None', 'val_cfg=None', 'val_evaluator=None']
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def _crashing_config(tmp_path, hook):
    """The toy config plus one crash hook."""
    path = tmp_path / 'crash.py'
    path.write_text(f"_base_ = [{CONFIG!r}]\n"
                    "custom_imports = dict(imports=['m2f_mm', 'tests.engine._crash'],\n"
                    "                      allow_failed_imports=False)\n"
                    f"custom_hooks = [dict(type='m2f_mm.DataSanityHook'), {hook}]\n")
    return path


def _ok(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _assert_same_state(a_path, b_path):
    a, b = (torch.load(p, weights_only=False) for p in (a_path, b_path))
    assert a['meta']['iter'] == b['meta']['iter'] == ITERS
    differing = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k],
                                                              b['state_dict'][k])]
    assert differing == [], f'{len(differing)} of {len(a["state_dict"])} tensors differ'
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a['param_schedulers'] == b['param_schedulers']


@pytest.fixture(scope='module')
def straight(data_root, tmp_path_factory):
    """An uninterrupted run's work dir."""
    work_dir = tmp_path_factory.mktemp('straight')
    _ok(_train(data_root, work_dir))
    return work_dir


@pytest.mark.slow
def test_killed_run_resumes_to_bitwise_equal_weights(data_root, straight, tmp_path):
    crash = _crashing_config(tmp_path, "dict(type='KillBeforeIterHook', iteration=5)")
    killed = _train(data_root, tmp_path / 'wd', config=crash)
    assert killed.returncode == -signal.SIGKILL
    ckpt = torch.load(tmp_path / 'wd' / 'iter_4.pth', weights_only=False)
    log = _ok(_train(data_root, tmp_path / 'wd', '--resume'))
    assert 'resumed epoch: 0, iter: 4' in log
    _assert_same_state(straight / f'iter_{ITERS}.pth', tmp_path / 'wd' / f'iter_{ITERS}.pth')

    # The same resume without the saved random state drifts: the test can fail.
    del ckpt['message_hub']['runtime_info']['random_state']
    (tmp_path / 'stateless').mkdir()
    torch.save(ckpt, tmp_path / 'stateless' / 'iter_4.pth')
    log = _ok(_train(data_root, tmp_path / 'stateless', '--resume'))
    assert 'holds no random state' in log
    with pytest.raises(AssertionError, match='tensors differ'):
        _assert_same_state(straight / f'iter_{ITERS}.pth',
                           tmp_path / 'stateless' / f'iter_{ITERS}.pth')


@pytest.mark.slow
def test_kill_during_a_save_keeps_the_previous_checkpoint(data_root, straight, tmp_path):
    crash = _crashing_config(tmp_path, "dict(type='KillDuringSaveHook', iteration=4)")
    killed = _train(data_root, tmp_path / 'wd', config=crash)
    assert killed.returncode == -signal.SIGKILL
    wd = tmp_path / 'wd'
    assert not (wd / 'iter_4.pth').exists() and (wd / '.iter_4.pth.tmp').exists()
    assert (wd / 'last_checkpoint').read_text() == str(wd / 'iter_2.pth')
    assert 'resumed epoch: 0, iter: 2' in _ok(_train(data_root, wd, '--resume'))
    assert not (wd / '.iter_4.pth.tmp').exists()
    # Old checkpoints went only after newer ones were complete: the last two remain.
    assert sorted(p.name for p in wd.glob('iter_*.pth')) == ['iter_6.pth', 'iter_8.pth']
    _assert_same_state(straight / f'iter_{ITERS}.pth', wd / f'iter_{ITERS}.pth')


@pytest.mark.parametrize('damage, problem', [
    (lambda p: p.write_bytes(p.read_bytes()[:4096]), 'incomplete or corrupt'),
    (lambda p: p.write_bytes(b''), 'empty'),
    (lambda p: p.unlink(), 'missing'),
])
def test_broken_newest_checkpoint_falls_back_in_one_line(data_root, straight, tmp_path,
                                                         damage, problem):
    wd = tmp_path / 'wd'
    shutil.copytree(straight, wd)
    newest = wd / f'iter_{ITERS}.pth'
    (wd / 'last_checkpoint').write_text(str(newest))
    damage(newest)
    log = _ok(_train(data_root, wd, '--resume'))
    assert (f'train.py: {newest} (named by {wd / "last_checkpoint"}) is {problem}; '
            f'resuming from {wd / "iter_6.pth"}') in log
    assert 'resumed epoch: 0, iter: 6' in log
    assert 'Traceback' not in log


def test_resume_with_nothing_to_resume(data_root, tmp_path):
    proc = _train(data_root, tmp_path / 'empty', '--resume')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f'train.py: error: no complete checkpoint to resume in {tmp_path / "empty"}; use '
        '--resume auto to start from scratch when there is none')
    proc = _train(data_root, tmp_path / 'mistyped', '--resume', str(tmp_path / 'nope.pth'))
    assert proc.returncode == 1 and 'nope.pth: not a complete checkpoint' in proc.stderr
    log = _ok(_train(data_root, tmp_path / 'auto', '--resume', 'auto'))
    assert 'starting from scratch (--resume auto)' in log
    assert (tmp_path / 'auto' / f'iter_{ITERS}.pth').exists()


def test_second_run_on_a_held_work_dir_is_refused(data_root, tmp_path):
    holder = _holder(tmp_path / 'wd')
    try:
        proc = _train(data_root, tmp_path / 'wd')
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'train.py: error: work dir {tmp_path / "wd"} is in use by a running training '
        f'(pid {holder.pid}')


def test_amp_on_cpu_trains_in_bf16(data_root, tmp_path):
    log = _ok(_train(data_root, tmp_path / 'wd', '--amp'))
    assert "type='m2f_mm.AutocastOptimWrapper'" in log and "dtype='bfloat16'" in log
    state = torch.load(tmp_path / 'wd' / f'iter_{ITERS}.pth', weights_only=False)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
