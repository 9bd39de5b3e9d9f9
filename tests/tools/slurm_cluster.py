"""A real single-node Slurm on this machine, for the launch-script tests.

:func:`start` installs Debian's slurm-wlm and munge where they are missing
(apt-get), writes a private slurm.conf (one node: this host, one CPU partition),
starts munged, slurmctld and slurmd, and waits until the node is idle.
:meth:`Cluster.stop` shuts the daemons down again. Where the packages cannot be
installed, :attr:`Cluster.skip_reason` says why, in one line.
"""
import dataclasses
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

PACKAGES = ['slurmd', 'slurmctld', 'slurm-client', 'munge']
DAEMONS = ['munged', 'slurmctld', 'slurmd']


@dataclasses.dataclass
class Cluster:
    root: Path
    partition: str = 'm2f'
    skip_reason: Optional[str] = None
    started: List[str] = dataclasses.field(default_factory=list)

    @property
    def env(self) -> Dict[str, str]:
        return dict(SLURM_CONF=str(self.root / 'slurm.conf'))

    def stop(self) -> None:
        """Shut down the daemons this cluster started."""
        env = dict(os.environ, **self.env)
        if 'slurmctld' in self.started:
            subprocess.run(['scontrol', 'shutdown'], env=env, capture_output=True, timeout=30)
        for name in reversed(self.started):
            pid_file = Path('/run/munge/munged.pid') if name == 'munged' else (
                self.root / f'{name}.pid')
            if pid_file.exists():
                subprocess.run(['kill', pid_file.read_text().strip()], capture_output=True)
        self.started.clear()


def _install() -> Optional[str]:
    """Install the packages if a daemon is missing; the failure, or None."""
    if all(shutil.which(d) for d in DAEMONS + ['srun', 'sinfo']):
        return None
    if os.geteuid() != 0 or shutil.which('apt-get') is None:
        return 'slurm-wlm is not installed and apt-get cannot install it here (needs root)'
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmd = ['apt-get', 'install', '-y', '--no-install-recommends'] + PACKAGES
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:  # perhaps a stale package list
        subprocess.run(['apt-get', 'update'], env=env, capture_output=True)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ['?'])[-1]
        return f'apt-get could not install slurm-wlm and munge: {last}'
    return None


def _write_config(root: Path, partition: str) -> None:
    host = socket.gethostname()
    for sub in ('state', 'spool'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / 'slurm.conf').write_text(f'''ClusterName=m2f_test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory=1000 State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
''')


def start(root: Path, timeout: float = 60.0) -> Cluster:
    """Install if needed, configure and start a one-node Slurm under ``root``."""
    cluster = Cluster(root=Path(root))
    cluster.skip_reason = _install()
    if cluster.skip_reason:
        return cluster
    cluster.root.mkdir(parents=True, exist_ok=True)
    _write_config(cluster.root, cluster.partition)
    env = dict(os.environ, **cluster.env)
    if subprocess.run(['pgrep', '-x', 'munged'], capture_output=True).returncode != 0:
        # munged runs as its own user and insists on owning its folders.
        subprocess.run(['install', '-d', '-o', 'munge', '-g', 'munge', '-m', '0755',
                        '/run/munge'], check=True)
        subprocess.run(['chown', '-R', 'munge:munge', '/var/log/munge', '/var/lib/munge'],
                       check=True)
        subprocess.run(['runuser', '-u', 'munge', '--', 'munged'], check=True,
                       capture_output=True)
        cluster.started.append('munged')
    for daemon in ('slurmctld', 'slurmd'):
        subprocess.run([daemon, '-c'], env=env, check=True, capture_output=True)
        cluster.started.append(daemon)
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = subprocess.run(['sinfo', '-h', '-o', '%t', '-p', cluster.partition], env=env,
                               capture_output=True, text=True).stdout.strip()
        if state == 'idle':
            return cluster
        time.sleep(1)
    logs = '; '.join((cluster.root / f).read_text()[-500:] for f in ('slurmctld.log',
                                                                        'slurmd.log')
                     if (cluster.root / f).exists())
    cluster.stop()
    raise RuntimeError(f'the local Slurm node did not become idle in {timeout} s: {logs}')
