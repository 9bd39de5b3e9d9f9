"""The version guard that runs when m2f_mm is imported."""
import subprocess
import sys

import pytest

from m2f_mm.utils.env_check import FIX, SUPPORTED, assert_environment, check_environment

GOOD = {'mmengine': '0.10.7', 'mmcv': '2.1.0', 'mmdet': '3.3.0', 'mmsegmentation': '1.2.2',
        'mmcv-lite': None}


def test_installed_stack_is_supported():
    assert check_environment() == []


def test_supported_versions_pass():
    assert check_environment(GOOD, mmcv_has_ops=True) == []


@pytest.mark.parametrize('dist,version', [('mmcv', '2.2.0'), ('mmdet', '3.2.0'),
                                          ('mmsegmentation', '1.1.0'), ('mmengine', '1.0.0')])
def test_out_of_range_version_is_named(dist, version):
    problems = check_environment(dict(GOOD, **{dist: version}), mmcv_has_ops=True)
    low, high = SUPPORTED[dist]
    assert problems == [f'{dist} {version} is not supported (need >={low},<{high})']


def test_missing_library_is_named():
    problems = check_environment(dict(GOOD, mmengine=None), mmcv_has_ops=True)
    assert problems == ['mmengine is not installed (need >=0.10.4,<1.0.0)']


@pytest.mark.parametrize('host', ['mmdet', 'mmsegmentation'])
def test_a_missing_host_is_no_problem_but_a_bad_one_is(host):
    assert check_environment(dict(GOOD, **{host: None}), mmcv_has_ops=True) == []
    assert check_environment(dict(GOOD, mmdet=None, mmsegmentation=None),
                             mmcv_has_ops=True) == []
    problems = check_environment(dict(GOOD, **{host: '0.1.0'}), mmcv_has_ops=True)
    assert problems and problems[0].startswith(f'{host} 0.1.0 is not supported')


def test_mmcv_without_ops_is_refused():
    problems = check_environment(GOOD, mmcv_has_ops=False)
    assert len(problems) == 1 and 'no compiled ops' in problems[0]


def test_mmcv_lite_is_refused():
    problems = check_environment(dict(GOOD, mmcv=None, **{'mmcv-lite': '2.1.0'}))
    assert len(problems) == 1 and 'mmcv-lite 2.1.0' in problems[0]


def test_assert_environment_message(monkeypatch):
    monkeypatch.setattr('m2f_mm.utils.env_check.installed_versions',
                        lambda: dict(GOOD, mmcv='2.2.0'))
    with pytest.raises(ImportError) as err:
        assert_environment()
    assert 'mmcv 2.2.0 is not supported' in str(err.value) and FIX in str(err.value)


def test_import_fails_with_one_clear_message():
    """A real `import m2f_mm` in a fresh interpreter that sees mmcv 2.2.0."""
    code = ('import importlib.metadata as md\n'
            'real = md.version\n'
            "md.version = lambda d: '2.2.0' if d == 'mmcv' else real(d)\n"
            'import m2f_mm\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode != 0
    last_lines = proc.stderr.strip().splitlines()[-4:]
    assert any(line.startswith('ImportError: m2f_mm cannot run') for line in last_lines)
    assert 'mmcv 2.2.0 is not supported (need >=2.1.0,<2.2.0)' in proc.stderr
    assert 'tools/setup_env.sh' in proc.stderr
