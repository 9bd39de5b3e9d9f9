"""The detectron2 .pkl reader loads arrays and refuses anything that imports or calls code."""
import os
import pickle
import sys
from collections import OrderedDict

import numpy as np
import pytest

from m2f_mm.converters import UnsafePickleError, load_detectron2_pkl


def _write(path, obj, protocol):
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=protocol)
    return str(path)


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_a_real_detectron2_layout_loads(tmp_path, protocol):
    model = OrderedDict([('backbone.stem.conv1.weight', np.random.rand(4, 3, 7, 7)),
                         ('sem_seg_head.predictor.query_feat.weight',
                          np.random.rand(2, 8).astype(np.float32)),
                         ('criterion.empty_weight', np.ones(3, dtype=np.float32)),
                         ('backbone.layers.0.blocks.0.attn.relative_position_index',
                          np.arange(16, dtype=np.int64).reshape(4, 4))])
    path = _write(tmp_path / 'model.pkl', {'model': model, '__author__': 'Mask2Former',
                                           'matching_heuristics': True, 'iteration': 1},
                  protocol)
    loaded = load_detectron2_pkl(path)
    assert list(loaded) == list(model)
    for key, value in model.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value)


class _RunsCode:
    """Unpickling this calls ``os.system`` (the classic pickle exploit)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def test_a_pickle_that_calls_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = _write(tmp_path / 'evil.pkl', {'model': {'w': _RunsCode(marker)}}, 2)
    # Unrestricted pickle would run it: the probe is real.
    with open(path, 'rb') as f:
        pickle.load(f)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafePickleError, match=r'refused global (posix|os|nt)\.system'):
        load_detectron2_pkl(path)
    assert not marker.exists()


def test_a_pickle_that_imports_a_module_is_refused_before_the_import(tmp_path, monkeypatch):
    marker = tmp_path / 'imported'
    (tmp_path / 'm2f_probe_module.py').write_text(
        f'open({str(marker)!r}, "w").close()\ndef f():\n    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    # GLOBAL 'm2f_probe_module f' then STOP: loading it imports the module.
    path = tmp_path / 'imports.pkl'
    path.write_bytes(b'\x80\x02cm2f_probe_module\nf\n.')
    with pytest.raises(UnsafePickleError, match='m2f_probe_module.f'):
        load_detectron2_pkl(str(path))
    assert not marker.exists() and 'm2f_probe_module' not in sys.modules


def test_object_arrays_and_foreign_types_are_refused(tmp_path):
    objects = _write(tmp_path / 'objects.pkl',
                     {'model': {'w': np.array([{'a': 1}], dtype=object)}}, 4)
    with pytest.raises(UnsafePickleError):
        load_detectron2_pkl(objects)
    a_set = _write(tmp_path / 'set.pkl', {'model': {'w': np.zeros(1)}, 'extra': {1, 2}}, 4)
    with pytest.raises(UnsafePickleError, match=r"\['extra'\]: a set is refused"):
        load_detectron2_pkl(a_set)


def test_a_pickle_without_a_model_dict_names_the_file(tmp_path):
    path = _write(tmp_path / 'weights.pkl', {'state_dict': {'w': np.zeros(1)}}, 4)
    with pytest.raises(KeyError, match='weights.pkl'):
        load_detectron2_pkl(path)
