"""Checkpoint files that survive a crash: written atomically, and found again on resume.

mmengine's CheckpointHook writes a checkpoint in place and deletes the oldest
kept one before writing the next, so a kill during a save can leave a truncated
newest file and fewer complete ones than promised. :class:`AtomicCheckpointHook`
writes to a temporary file, fsyncs it, renames it into place and only then
deletes the old ones. :func:`resumable_checkpoint` picks what ``--resume``
continues from, falling back past a missing or broken newest checkpoint.
"""
import glob
import os
import os.path as osp
import re
import zipfile
from typing import Optional, Tuple

from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import CheckpointHook

from m2f_mm.registry import HOOKS
from .random_state import RANDOM_STATE_KEY, capture_random_state

__all__ = ['AtomicCheckpointHook', 'fsync_and_replace', 'is_complete_checkpoint',
           'resumable_checkpoint', 'NoCheckpointError']


class NoCheckpointError(FileNotFoundError):
    """A work dir holds no complete checkpoint to resume from."""


def fsync_and_replace(tmp: str, final: str) -> None:
    """Make ``tmp`` durable, then atomically give it the name ``final``."""
    with open(tmp, 'rb+') as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(osp.dirname(final) or '.', os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_atomically(path: str, text: str) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    fsync_and_replace(tmp, path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's CheckpointHook, with crash-safe files on local disk.

    Each checkpoint is written to ``.<name>.tmp`` beside its final name, fsynced
    and renamed, then ``last_checkpoint`` is replaced the same way, and only then
    are checkpoints beyond ``max_keep_ckpts`` deleted. A kill at any moment
    leaves every previously completed checkpoint intact. Each checkpoint also
    holds every rank's random state (see :mod:`m2f_mm.engine.random_state`).
    Takes CheckpointHook's arguments; ``tools/train.py`` puts it in place of
    ``CheckpointHook``.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():  # temporary files of a save that a kill interrupted
            for stale in glob.glob(osp.join(self.out_dir, '.*.tmp')):
                os.remove(stale)

    def _save_checkpoint_with_step(self, runner, step, meta):
        filename = self.filename_tmpl.format(step)
        final = self.file_backend.join_path(self.out_dir, filename)
        if not osp.isdir(self.out_dir):  # a remote backend: no rename to rely on
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped = None
        if self.max_keep_ckpts > 0 and (not self.keep_ckpt_ids or self.keep_ckpt_ids[-1] != step):
            # keep_ckpt_ids is a deque bounded by max_keep_ckpts: note who drops out.
            # It goes into the checkpoint being written, itself included.
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped = self.keep_ckpt_ids[0]
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', final)
        # A collective: this hook runs on every rank, runner.save_checkpoint on rank 0.
        runner.message_hub.update_info(RANDOM_STATE_KEY,
                                       all_gather_object(capture_random_state()))
        tmp_name = f'.{filename}.tmp'
        runner.save_checkpoint(self.out_dir, tmp_name, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)
        if not is_main_process():
            return
        fsync_and_replace(osp.join(self.out_dir, tmp_name), final)
        _write_atomically(osp.join(runner.work_dir, 'last_checkpoint'), final)
        # Only now that the new checkpoint is complete does an old one go.
        old = None if dropped is None else osp.join(self.out_dir,
                                                    self.filename_tmpl.format(dropped))
        if old is not None and osp.isfile(old):
            os.remove(old)


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole checkpoint file: present, non-empty, and a zip
    archive (torch.save's format) whose central directory, written last, is
    intact, so a file truncated mid-write is rejected."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith('data.pkl') for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _step(path: str) -> int:
    match = re.search(r'_(\d+)\.pth$', path)
    return int(match.group(1)) if match else -1


def resumable_checkpoint(work_dir: str) -> Tuple[str, Optional[str]]:
    """The checkpoint to resume from in ``work_dir``, and a note when it is not
    the one ``last_checkpoint`` names.

    Returns:
        ``(path, note)``: the file ``last_checkpoint`` names if it is complete
        (note None); else the newest complete ``iter_*.pth`` / ``epoch_*.pth``
        with a one-line note saying what was wrong.

    Raises:
        NoCheckpointError: If the work dir holds no complete checkpoint.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if is_complete_checkpoint(named):
            return named, None
    candidates = sorted(glob.glob(osp.join(work_dir, 'iter_*.pth')) +
                        glob.glob(osp.join(work_dir, 'epoch_*.pth')), key=_step, reverse=True)
    for path in candidates:
        if is_complete_checkpoint(path):
            if named is None:
                return path, f'{pointer} is missing; resuming from {path}'
            problem = 'missing' if not osp.exists(named) else (
                'empty' if osp.getsize(named) == 0 else 'incomplete or corrupt')
            return path, f'{named} (named by {pointer}) is {problem}; resuming from {path}'
    raise NoCheckpointError(f'no complete checkpoint to resume in {work_dir}')
