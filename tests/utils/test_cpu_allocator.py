"""keep_freed_memory: large blocks come from the heap, not from fresh mmaps; opt-out works."""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Bytes in mmapped blocks (glibc's mallinfo2().hblkhd) while a 64 MB block is held.
_PROBE = '''
import ctypes, json, sys
from m2f_mm.utils.cpu_allocator import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd',
                'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]
libc = ctypes.CDLL('libc.so.6')
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
message = keep_freed_memory() if sys.argv[1] == 'keep' else ''
block = libc.malloc(64 << 20)
print(json.dumps(dict(mmapped=libc.mallinfo2().hblkhd, message=message)))
'''


def _probe(mode, **env):
    proc = subprocess.run([sys.executable, '-c', _PROBE, mode], cwd=REPO, capture_output=True,
                          text=True, env={'PATH': '/usr/bin:/bin', **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc only')
def test_large_blocks_stop_being_mmapped():
    assert _probe('default')['mmapped'] >= 64 << 20
    kept = _probe('keep')
    assert kept['mmapped'] < 64 << 20 and 'keeps freed memory' in kept['message']


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc only')
def test_opt_out_keeps_the_defaults():
    result = _probe('keep', M2F_MM_MALLOC_DEFAULTS='1')
    assert result['mmapped'] >= 64 << 20 and 'M2F_MM_MALLOC_DEFAULTS is set' in result['message']
