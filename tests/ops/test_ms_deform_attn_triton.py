"""The Triton deformable-attention kernels against the exact PyTorch path.

Without a GPU the kernels run in Triton's interpreter (TRITON_INTERPRET=1, set
before Triton is imported, hence a subprocess): the same kernel code, executed
on CPU tensors. On a GPU, tests/ops/test_ms_deform_attn.py compares
the compiled kernels at the R50 shapes.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec('triton') is None,
                                reason='needs Triton')

# Prints, per case, the largest |difference| of output and of each gradient.
_SCRIPT = r'''
import json, torch
from m2f_mm.ops.ms_deform_attn_pytorch import ms_deform_attn_pytorch
from m2f_mm.ops.ms_deform_attn_triton import TritonMSDeformAttnFunction

def case(sizes, heads, head_dims, points, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    shapes = torch.tensor(sizes)
    areas = shapes.prod(1)
    start = areas.cumsum(0) - areas
    value = torch.randn(2, int(areas.sum()), heads, head_dims, generator=gen, dtype=dtype)
    # Locations span [-0.3, 1.3]: some samples are partly or wholly off the map.
    loc = torch.rand(2, 9, heads, len(sizes), points, 2, generator=gen, dtype=dtype) * 1.6 - 0.3
    weights = torch.rand(2, 9, heads, len(sizes), points, generator=gen, dtype=dtype)
    grad_out = torch.randn(2, 9, heads * head_dims, generator=gen, dtype=dtype)
    results = []
    for fn in (lambda v, l, w: TritonMSDeformAttnFunction.apply(v, shapes, start, l, w),
               lambda v, l, w: ms_deform_attn_pytorch(v, shapes, l, w)):
        inputs = [t.clone().requires_grad_() for t in (value, loc, weights)]
        out = fn(*inputs)
        results.append([out] + list(torch.autograd.grad(out, inputs, grad_out)))
    return [(a - b).abs().max().item() for a, b in zip(*results)]

print(json.dumps({
    'float64, 3 levels, Cn=12 (not a power of 2)':
        case([(5, 7), (3, 4), (1, 2)], 3, 12, 2, torch.float64, 0),
    'float32, 2 levels, 1-pixel-wide maps':
        case([(6, 1), (1, 5)], 2, 8, 3, torch.float32, 1),
}))
'''


def test_interpreted_kernels_match_pytorch_path():
    env = dict(os.environ, TRITON_INTERPRET='1')
    run = subprocess.run([sys.executable, '-c', _SCRIPT], capture_output=True, text=True,
                         env=env, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__))))))
    assert run.returncode == 0, run.stderr[-3000:]
    cases = json.loads(run.stdout.strip().splitlines()[-1])
    for name, diffs in cases.items():
        tolerance = 1e-12 if name.startswith('float64') else 1e-5
        for label, diff in zip(['output', 'value', 'locations', 'weights'], diffs):
            assert diff <= tolerance, f'{name}: {label} differs by {diff}'
