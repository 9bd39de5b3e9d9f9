"""One training run per work dir.

Two runs writing checkpoints and ``last_checkpoint`` into one folder corrupt
each other's resume. The first run holds an exclusive ``flock`` on
``<work_dir>/.m2f_mm.lock`` for its lifetime; the kernel drops it when the
process ends, however it ends, so a killed run leaves no stale lock behind.
"""
import fcntl
import os
import os.path as osp
from typing import IO

from .errors import DataError

__all__ = ['WorkDirBusyError', 'lock_work_dir']

LOCK_NAME = '.m2f_mm.lock'


class WorkDirBusyError(DataError):
    """Another live run holds the work dir."""


def lock_work_dir(work_dir: str) -> IO:
    """Take the work dir for this process, or raise naming the process that holds it.

    Args:
        work_dir: The run's work dir (created if missing).

    Returns:
        The open lock file; keep a reference for as long as the run lasts.

    Raises:
        WorkDirBusyError: If a live process holds the lock.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    handle = open(path, 'a+')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or 'another process'
        handle.close()
        raise WorkDirBusyError(f'work dir {work_dir} is in use by a running training '
                               f'(pid {holder}, lock {path}); choose another --work-dir or '
                               'stop that run') from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
