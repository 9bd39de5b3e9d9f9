"""One live run per work dir; a dead run leaves no lock behind."""
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest

from m2f_mm.utils.work_dir_lock import WorkDirBusyError, lock_work_dir

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _holder(work_dir):
    """Another process that takes the lock and keeps it until killed."""
    proc = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time\n'
         'from m2f_mm.utils.work_dir_lock import lock_work_dir\n'
         f'lock = lock_work_dir({str(work_dir)!r})\n'
         'print("locked", flush=True)\n'
         'time.sleep(600)\n'], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'locked'
    return proc


def test_second_run_is_refused_and_a_killed_run_frees_the_dir(tmp_path):
    holder = _holder(tmp_path / 'wd')
    try:
        with pytest.raises(WorkDirBusyError,
                           match=f'in use by a running training \\(pid {holder.pid},'):
            lock_work_dir(str(tmp_path / 'wd'))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    lock = lock_work_dir(str(tmp_path / 'wd'))  # no stale lock after the kill
    assert open(osp.join(tmp_path, 'wd', '.m2f_mm.lock')).read().strip().isdigit()
    lock.close()
