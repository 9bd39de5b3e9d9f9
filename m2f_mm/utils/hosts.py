"""The host libraries (mmdet, mmseg): which are installed, and the one way
m2f_mm registers the parts that need them.

An mmseg user needs no mmdet and an mmdet user no mmseg: ``import m2f_mm``
imports the parts of each installed host and, for a missing host, registers
stand-ins under the same names whose construction raises an ImportError that
names the missing package.
"""
import functools
import importlib
from typing import Sequence

from mmengine.registry import Registry

from .env_check import HOST_PACKAGES

__all__ = ['host_installed', 'require_hosts', 'import_host_part']


@functools.lru_cache(maxsize=None)
def host_installed(host: str) -> bool:
    """Whether ``import host`` works; a host that is installed but broken
    (one of its own imports fails) raises instead of reading as missing."""
    try:
        importlib.import_module(host)
    except ModuleNotFoundError as err:
        if err.name != host:
            raise
        return False
    return True


def _missing_message(user: str, hosts: Sequence[str]) -> str:
    missing = [HOST_PACKAGES[h] for h in hosts if not host_installed(h)]
    return (f'{user} needs {" and ".join(missing)}, which is not installed: '
            f'pip install {" ".join(missing)} (or run `bash tools/setup_env.sh`)')


def require_hosts(user: str, *hosts: str) -> None:
    """Raise ImportError naming the missing packages unless every host is installed.

    Args:
        user: What needs them, for the message (e.g. ``'m2f_mm.adapters.det'``).
        *hosts: Import names of the host libraries (keys of :data:`HOST_PACKAGES`).
    """
    if not all(host_installed(h) for h in hosts):
        raise ImportError(_missing_message(user, hosts))


def import_host_part(module: str, hosts: Sequence[str], registry: Registry,
                     names: Sequence[str]) -> None:
    """Import ``module`` (which registers ``names`` in ``registry``) if its hosts
    are installed; otherwise register stand-ins that raise the ImportError of
    :func:`require_hosts` when a config builds them."""
    if all(host_installed(h) for h in hosts):
        importlib.import_module(module)
        return
    message = _missing_message(f'{registry.scope}.<name>', hosts)
    for name in names:

        def refuse(*args, _name=name, **kwargs):
            raise ImportError(message.replace('<name>', _name))

        registry.register_module(name=name, module=type(name, (), {'__init__': refuse}))
