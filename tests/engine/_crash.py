"""Test-only hooks that crash a training run for real (SIGKILL), at a chosen point."""
import os
import signal

from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillBeforeIterHook(Hook):
    """SIGKILL this process right before training iteration ``iteration`` (0-based)."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillDuringSaveHook(Hook):
    """SIGKILL this process half-way through writing the checkpoint of ``iteration``."""

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        if runner.iter + 1 != self.iteration:
            return

        def write_half_then_die(backend, obj, filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            os.kill(os.getpid(), signal.SIGKILL)

        LocalBackend.put = write_half_then_die
