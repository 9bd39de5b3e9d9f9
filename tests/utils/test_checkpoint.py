"""Runner checkpoints under torch >= 2.6: resume works, arbitrary pickles stay refused."""
import copy
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn
from torch.utils.data import DataLoader, Dataset

import m2f_mm  # noqa: F401  (allow-lists mmengine's checkpoint types)
from m2f_mm.utils.checkpoint import mmengine_checkpoint_types


class _Regression(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(targets)) ** 2).mean())
        return out


class _Points(Dataset):

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(16, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


class _RecordStart(Hook):
    """Records the state a run starts from (after any resume)."""

    def before_train(self, runner):
        self.iter = runner.iter
        self.weights = {k: v.clone() for k, v in runner.model.state_dict().items()}
        # state_dict() holds references that training updates in place.
        self.optim_state = copy.deepcopy(runner.optim_wrapper.optimizer.state_dict())


def _runner(work_dir, max_iters, **kwargs):
    record = _RecordStart()
    torch.manual_seed(0)  # same initial weights in every run
    runner = Runner(
        model=_Regression(), work_dir=str(work_dir),
        train_dataloader=DataLoader(_Points(), batch_size=4, shuffle=False,
                                    collate_fn=lambda b: dict(inputs=[d['inputs'] for d in b],
                                                              targets=[d['targets'] for d in b])),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.05)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[record], randomness=dict(seed=0), **kwargs)
    return runner, record


def test_runner_checkpoint_resumes(tmp_path):
    straight, _ = _runner(tmp_path / 'straight', max_iters=4)
    straight.train()
    first, _ = _runner(tmp_path / 'first', max_iters=2)
    first.train()
    ckpt = tmp_path / 'first' / 'iter_2.pth'
    assert ckpt.exists()
    saved = torch.load(ckpt)  # weights_only=True is torch's default here
    # mmengine's message hub (HistoryBuffer, numpy arrays) is what needed allow-listing.
    assert 'log_scalars' in saved['message_hub']

    resumed, start = _runner(tmp_path / 'resumed', max_iters=4, load_from=str(ckpt), resume=True)
    resumed.train()
    assert start.iter == 2
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(start.weights[key], value, rtol=0, atol=0)
    adam_state = start.optim_state['state'][0]
    torch.testing.assert_close(adam_state['exp_avg'], saved['optimizer']['state'][0]['exp_avg'])
    assert int(adam_state['step']) == 2
    # Resuming at iteration 2 and training on ends exactly where 4 straight iterations do.
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)


def test_fresh_process_loads_runner_checkpoint(tmp_path):
    """tools/test.py loads a checkpoint before any HistoryBuffer exists in its process."""
    runner, _ = _runner(tmp_path, max_iters=2)
    runner.train()
    code = ('import torch, m2f_mm\n'
            f'ckpt = torch.load({str(tmp_path / "iter_2.pth")!r})\n'
            "assert ckpt['meta']['iter'] == 2\n")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_checkpoint_needs_only_allow_listed_types(tmp_path):
    runner, _ = _runner(tmp_path, max_iters=2)
    runner.train()
    ours = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(
            str(tmp_path / 'iter_2.pth')))
    finally:
        torch.serialization.add_safe_globals(ours)
    allowed = {t[1] if isinstance(t, tuple) else f'{t.__module__}.{t.__qualname__}'
               for t in mmengine_checkpoint_types()}
    assert unsafe and unsafe <= allowed
    assert 'builtins.getattr' in unsafe  # HistoryBuffer's statistics methods


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _GetsAttribute:
    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return (getattr, (self.owner, self.name))


@pytest.mark.parametrize('owner,name', [(HistoryBuffer, '__init__'), (HistoryBuffer, '__class__'),
                                        (torch.Tensor, 'tolist')])
def test_getattr_beyond_history_buffer_statistics_is_refused(tmp_path, owner, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetsAttribute(owner, name)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_history_buffer_statistics_are_allowed(tmp_path):
    path = tmp_path / 'stats.pth'
    torch.save({'x': _GetsAttribute(HistoryBuffer, 'mean')}, path)
    assert torch.load(path)['x'] is HistoryBuffer.mean


def test_pickle_with_callable_is_refused(tmp_path):
    marker = str(tmp_path / 'pwned')
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not os.path.exists(marker)
