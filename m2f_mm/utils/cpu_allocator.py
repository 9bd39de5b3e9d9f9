"""Keep freed memory in the process (glibc malloc) instead of returning it to the kernel.

glibc serves every allocation above its mmap threshold (at most 32 MB) with a
fresh ``mmap`` and unmaps it on free. A training step on CPU allocates and
frees gigabytes of such tensors, so every step faults all of those pages in
again, and the kernel zeroes each one: about 15 % of m2f_mm's R50 step at
512x512 and 35 % of mmdet's (README, "Speed and memory"). With mmap off and
a high trim threshold, freed blocks stay in the heap and the next step reuses
them. Results are unchanged; the resident size stays near its peak between
steps instead of falling back.
"""
import ctypes
import os
import sys

__all__ = ['keep_freed_memory', 'OPT_OUT_VARIABLE']

OPT_OUT_VARIABLE = 'M2F_MM_MALLOC_DEFAULTS'
# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2 ** 31 - 1


def keep_freed_memory() -> str:
    """Switch glibc malloc to keep freed memory for reuse; return what was done, in words.

    Does nothing where ``M2F_MM_MALLOC_DEFAULTS`` is set, or where the C library is not
    glibc (``mallopt`` missing).
    """
    if os.environ.get(OPT_OUT_VARIABLE):
        return f'malloc defaults kept ({OPT_OUT_VARIABLE} is set)'
    if not sys.platform.startswith('linux'):
        return 'malloc defaults kept (not Linux)'
    try:
        mallopt = ctypes.CDLL('libc.so.6').mallopt
    except (OSError, AttributeError):
        return 'malloc defaults kept (not glibc)'
    if mallopt(_M_MMAP_MAX, 0) != 1 or mallopt(_M_TRIM_THRESHOLD, _INT_MAX) != 1:
        return 'malloc defaults kept (mallopt refused)'
    return (f'glibc malloc keeps freed memory for reuse (no mmap, trim above 2 GB); set '
            f'{OPT_OUT_VARIABLE}=1 to keep its defaults')
