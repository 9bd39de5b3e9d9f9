"""tools/analysis_tools/benchmark.py runs end to end (one tiny step per worker), so it cannot rot.

It asserts the table's content, never a time: these machines are noisy.
"""
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _ratio_of_shown(ratio, num, den, half_unit):
    """Whether a ratio shown to 2 decimals can be num / den, both shown rounded to half_unit."""
    low = (num - half_unit) / (den + half_unit)
    high = (num + half_unit) / (den - half_unit)
    return low - 0.005 <= ratio <= high + 0.005


def test_benchmark_prints_ratios_flops_profiles_and_the_memory_claim(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', '--size', '64', '--iters', '1',
         '--warmup', '0', '--runs', '1', '--modes', 'train', '--memory-claim', '--claim-size',
         '64', '--profile', str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    row = re.search(r'^train((?:\s+[\d.]+){9})\s*$', out, re.M)
    assert row, out
    (mmdet_s, ours_s, ratio, mmdet_mb, ours_mb, mem_ratio, gflop, mmdet_bound,
     ours_bound) = map(float, row.group(1).split())
    # The ratios come from the unrounded values: 0.64 for a shown 0.68 / 1.08 is right.
    assert _ratio_of_shown(ratio, ours_s, mmdet_s, 0.005), (ratio, ours_s, mmdet_s)
    assert _ratio_of_shown(mem_ratio, ours_mb, mmdet_mb, 0.5), (mem_ratio, ours_mb, mmdet_mb)
    # Counted FLOPs of a training step at 64x64: ResNet-50 alone is ~0.7 GFLOP forward.
    assert gflop > 1 and mmdet_bound > 0 and ours_bound > 0
    for impl in ('mmdet', 'm2f_mm'):
        assert 'self_cpu_time_total' in (tmp_path / f'{impl}_train_64.txt').read_text()
        split = re.search(rf'^train\s+{impl}\s+products\s+([\d.]+) s at ([\d.]+) of the peak; '
                          rf'the rest\s+(-?[\d.]+) s; every product at the peak:\s+([\d.]+) s = '
                          rf'([\d.]+)x its bound$', out, re.M)
        assert split, out
        products, fraction, rest, at_peak, times_bound = map(float, split.groups())
        assert products > 0 and fraction > 0
        # The step at the peak is the products' bound plus the rest.
        assert abs(at_peak - rest - at_peak / times_bound) < 0.02, split.group(0)
    assert re.search(r'point-sampled losses\s+\d+ MB', out)
    assert re.search(r'full / point: [\d.]+', out)
