"""Random state in checkpoints, so that a resumed run continues bit for bit.

The matcher and the point-sampled losses draw from torch's generator every
step. A checkpoint without that state makes a resumed run sample other points
than the uninterrupted run would have, and the weights drift apart.

:class:`~m2f_mm.engine.checkpoint.AtomicCheckpointHook` stores, at every save,
the random state of every rank (torch CPU and CUDA, numpy, Python) in the
checkpoint's message hub (it runs on every rank, while mmengine calls
``before_save_checkpoint`` on rank 0 only). :class:`RandomStateHook` restores
each rank's torch state right before the first resumed step. numpy's
and Python's generators are stored but not restored: in the main process only
the data transforms draw from them, and mmengine's loop replays the data of
the finished iterations on resume, which brings them to the same state (with
dataloader workers, each worker is reseeded from the run's seed and replays
likewise). Validation runs between two saves; the hook makes it leave every
generator as it found it, so that evaluating does not shift training.
"""
import logging
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from m2f_mm.registry import HOOKS

__all__ = ['RandomStateHook', 'capture_random_state', 'RANDOM_STATE_KEY']

# Message-hub key of the list of every rank's random state.
RANDOM_STATE_KEY = 'random_state'


def capture_random_state() -> dict:
    """This process's torch (CPU and CUDA), numpy and Python random state."""
    return dict(torch=torch.get_rng_state(),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                numpy=np.random.get_state(), python=random.getstate())


def _restore(state: dict, torch_only: bool) -> None:
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    if not torch_only:
        np.random.set_state(state['numpy'])
        random.setstate(state['python'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Restore every rank's random state on resume; keep validation from shifting it.

    ``tools/train.py`` adds this hook to every run.
    """

    def __init__(self) -> None:
        self._first_iter = True
        self._before_val: Optional[dict] = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self._first_iter:
            return
        self._first_iter = False
        if runner.iter == 0:
            return
        states = runner.message_hub.get_info(RANDOM_STATE_KEY)
        if states is None:
            print_log('RandomStateHook: the resumed checkpoint holds no random state; this '
                      'run will not repeat the interrupted one exactly', logger='current',
                      level=logging.WARNING)
        elif len(states) != get_world_size():
            print_log(f'RandomStateHook: the checkpoint was written by {len(states)} '
                      f'processes, this run has {get_world_size()}; the random state is not '
                      'restored', logger='current', level=logging.WARNING)
        else:
            _restore(states[get_rank()], torch_only=True)

    def before_val(self, runner) -> None:
        self._before_val = capture_random_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            _restore(self._before_val, torch_only=False)
            self._before_val = None
