"""The one check of every bad-input test of the tools: exit status 1, no traceback, and
one last line of stderr that names what is wrong."""


def assert_one_line_error(proc, prefix: str, *fragments: str) -> str:
    """Check a finished tool process; returns its last stderr line.

    Args:
        proc: A ``subprocess.CompletedProcess`` with text stderr.
        prefix: How the line starts, e.g. ``'train.py: error: '``.
        fragments: Texts the line must contain.
    """
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(prefix), last
    for fragment in fragments:
        assert fragment in last, last
    return last
