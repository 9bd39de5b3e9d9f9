"""Finding the checkpoint to resume: complete files only, falling back past broken ones."""
import os

import pytest
import torch

from m2f_mm.engine.checkpoint import (NoCheckpointError, is_complete_checkpoint,
                                      resumable_checkpoint)


def _save(path, value=1.0):
    torch.save({'state_dict': {'w': torch.full((64, 64), value)}}, path)
    return str(path)


def _point(work_dir, path):
    (work_dir / 'last_checkpoint').write_text(str(path))


def test_complete_truncated_empty_and_missing_files(tmp_path):
    good = _save(tmp_path / 'iter_2.pth')
    assert is_complete_checkpoint(good)
    data = open(good, 'rb').read()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'cut_at_end.pth').write_bytes(data[:-10])
    (tmp_path / 'empty.pth').write_bytes(b'')
    for name in ('cut.pth', 'cut_at_end.pth', 'empty.pth', 'missing.pth'):
        assert not is_complete_checkpoint(str(tmp_path / name)), name


def test_last_checkpoint_is_used_when_complete(tmp_path):
    _save(tmp_path / 'iter_2.pth')
    newest = _save(tmp_path / 'iter_4.pth')
    _point(tmp_path, newest)
    assert resumable_checkpoint(str(tmp_path)) == (newest, None)


@pytest.mark.parametrize('damage, problem', [
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), 'incomplete or corrupt'),
    (lambda p: p.write_bytes(b''), 'empty'),
    (lambda p: p.unlink(), 'missing'),
])
def test_broken_newest_falls_back_to_the_newest_complete(tmp_path, damage, problem):
    older = _save(tmp_path / 'iter_2.pth')
    _save(tmp_path / 'iter_10.pth')  # numeric order: 10 is newer than 4 and 2
    _save(tmp_path / 'iter_4.pth')
    newest = tmp_path / 'iter_12.pth'
    _save(newest)
    _point(tmp_path, newest)
    damage(newest)
    path, note = resumable_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'iter_10.pth') and path != older
    assert note == (f'{newest} (named by {tmp_path / "last_checkpoint"}) is {problem}; '
                    f'resuming from {path}')


def test_no_pointer_takes_the_newest_complete_and_says_so(tmp_path):
    _save(tmp_path / 'iter_2.pth')
    newest = _save(tmp_path / 'iter_4.pth')
    path, note = resumable_checkpoint(str(tmp_path))
    assert path == newest and note.endswith('last_checkpoint is missing; resuming from '
                                            f'{newest}')


def test_nothing_complete_is_an_error(tmp_path):
    (tmp_path / 'iter_2.pth').write_bytes(b'')
    with pytest.raises(NoCheckpointError, match='no complete checkpoint to resume in'):
        resumable_checkpoint(str(tmp_path))
    os.remove(tmp_path / 'iter_2.pth')
    with pytest.raises(NoCheckpointError):
        resumable_checkpoint(str(tmp_path))
