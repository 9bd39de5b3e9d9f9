"""Version guard for the OpenMMLab stack m2f_mm is built and tested against.

The check reads installed distribution metadata, so it runs before any of the
checked libraries is imported: a broken mmcv fails here with one message
instead of deep inside ``mmdet.models``.
"""
import importlib.metadata
import importlib.util
import pathlib
from typing import Dict, List, Optional

from packaging.version import Version

__all__ = ['SUPPORTED', 'HOST_PACKAGES', 'check_environment', 'installed_versions', 'version_summary']

# distribution name -> (lowest supported, first unsupported)
SUPPORTED = {
    'mmengine': ('0.10.4', '1.0.0'),
    'mmcv': ('2.1.0', '2.2.0'),
    'mmdet': ('3.3.0', '3.4.0'),
    'mmsegmentation': ('1.2.2', '1.3.0'),
}
# The host libraries, import name -> distribution name: each is optional (an
# mmseg user needs no mmdet) and checked only when installed.
HOST_PACKAGES = {'mmdet': 'mmdet', 'mmseg': 'mmsegmentation'}

FIX = 'Run `bash tools/setup_env.sh` from the m2f_mm checkout (see README, Install).'


def installed_versions() -> Dict[str, Optional[str]]:
    """Return the installed version of each supported distribution, or None."""
    found = {}
    for dist in list(SUPPORTED) + ['mmcv-lite']:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found


def _mmcv_has_ops() -> bool:
    spec = importlib.util.find_spec('mmcv')
    if spec is None or not spec.submodule_search_locations:
        return False
    # The compiled extension sits beside mmcv/__init__.py as _ext.*.so.
    return any(
        any(pathlib.Path(loc).glob('_ext*.so')) or any(pathlib.Path(loc).glob('_ext*.pyd'))
        for loc in spec.submodule_search_locations)


def check_environment(versions: Optional[Dict[str, Optional[str]]] = None,
                      mmcv_has_ops: Optional[bool] = None) -> List[str]:
    """List what is wrong with the installed OpenMMLab stack.

    Args:
        versions: distribution name -> version (None when missing). Defaults to
            what is installed.
        mmcv_has_ops: whether mmcv ships its compiled ops. Defaults to a look at
            the installed mmcv package.

    Returns:
        One line per problem; empty when the environment is supported.
    """
    versions = installed_versions() if versions is None else versions
    problems = []
    for dist, (low, high) in SUPPORTED.items():
        have = versions.get(dist)
        if have is None:
            if dist in HOST_PACKAGES.values() or (dist == 'mmcv' and versions.get('mmcv-lite')):
                continue  # a host is optional; mmcv-lite is reported below
            problems.append(f'{dist} is not installed (need >={low},<{high})')
        elif not Version(low) <= Version(have) < Version(high):
            problems.append(f'{dist} {have} is not supported (need >={low},<{high})')
    if versions.get('mmcv-lite'):
        problems.append(f'mmcv-lite {versions["mmcv-lite"]} is installed; m2f_mm, mmdet and '
                        'mmseg need the full mmcv with compiled ops: uninstall mmcv-lite')
    elif versions.get('mmcv') is not None:
        has_ops = _mmcv_has_ops() if mmcv_has_ops is None else mmcv_has_ops
        if not has_ops:
            problems.append(f'mmcv {versions["mmcv"]} has no compiled ops (mmcv._ext); '
                            'rebuild it with MMCV_WITH_OPS=1')
    return problems


def assert_environment() -> None:
    """Raise ImportError with one message when the stack is unsupported."""
    problems = check_environment()
    if problems:
        lines = '\n'.join(f'  - {p}' for p in problems)
        raise ImportError(f'm2f_mm cannot run with the installed OpenMMLab stack:\n{lines}\n{FIX}')


def version_summary() -> str:
    """One line with the versions in use, for logs and the README's set-up."""
    import torch
    v = installed_versions()
    parts = [f'torch {torch.__version__} (cuda {torch.cuda.is_available()})']
    parts += [f'{d} {v[d]}' for d in SUPPORTED]
    from m2f_mm.ops import kernel_name
    parts.append(f'deformable attention on CPU: {kernel_name("cpu")}')
    return ', '.join(parts)
