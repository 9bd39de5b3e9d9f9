"""Read a detectron2 ``.pkl`` checkpoint without letting it run code.

A pickle is a program: its GLOBAL and REDUCE opcodes import and call
anything. A checkpoint file is untrusted input, so the unpickler here resolves
only the few globals that numpy arrays need (array, scalar and dtype
constructors, latin-1 bytes for protocol-2 pickles, OrderedDict), and the loaded object is
checked to hold nothing but arrays, numbers, strings and containers.
"""
import codecs
import collections
import pickle
from typing import Any, Callable, Dict

import numpy as np

__all__ = ['load_detectron2_pkl', 'UnsafePickleError']


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for a global outside the allow-list, or holds an object of another type."""


def _latin1_bytes(text: str, encoding: str = 'latin1') -> bytes:
    # Protocol-2 pickles of numpy arrays written by Python 3 store raw bytes as
    # ``_codecs.encode(str, 'latin1')``; no other codec call is needed.
    if not isinstance(text, str) or encoding not in ('latin1', 'latin-1'):
        raise UnsafePickleError(f'_codecs.encode({type(text).__name__}, {encoding!r}) refused')
    return codecs.encode(text, 'latin1')


def _numpy_core() -> Any:
    return getattr(np, '_core', None) or np.core  # numpy 2 renamed numpy.core


# (module, name) -> the object it resolves to. Arrays: _reconstruct (protocols 2-4)
# or _frombuffer (protocol 5); scalars: scalar.
_ALLOWED: Dict[tuple, Callable[[], Any]] = {
    **{(f'numpy.{core}.{module}', name): (lambda module=module, name=name:
                                          getattr(getattr(_numpy_core(), module), name))
       for core in ('core', '_core')
       for module, name in (('multiarray', '_reconstruct'), ('multiarray', 'scalar'),
                            ('numeric', '_frombuffer'))},
    ('numpy', 'ndarray'): lambda: np.ndarray,
    ('numpy', 'dtype'): lambda: np.dtype,
    ('_codecs', 'encode'): lambda: _latin1_bytes,
    ('collections', 'OrderedDict'): lambda: collections.OrderedDict,
}
_PLAIN = (str, bytes, int, float, bool, type(None), np.ndarray, np.generic)


class _AllowListUnpickler(pickle.Unpickler):

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]()
        except KeyError:
            raise UnsafePickleError(
                f'refused global {module}.{name}: a checkpoint may hold only numpy arrays, '
                'numbers, strings and containers') from None


def _check_plain(obj: Any, path: str) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain(key, path)
            _check_plain(value, f'{path}[{key!r}]')
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _check_plain(value, f'{path}[{i}]')
    elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise UnsafePickleError(f'{path}: object arrays are refused')
    elif not isinstance(obj, _PLAIN):
        raise UnsafePickleError(f'{path}: a {type(obj).__name__} is refused')


def load_detectron2_pkl(path: str) -> Dict[str, np.ndarray]:
    """Return the ``model`` dict (name -> array) of a detectron2 checkpoint.

    Raises:
        UnsafePickleError: For any global or object type outside the allow-list
            (nothing outside it has been imported or called).
        KeyError: If the file has no ``model`` dict of arrays.
    """
    with open(path, 'rb') as f:
        obj = _AllowListUnpickler(f, encoding='latin1').load()
    _check_plain(obj, path)
    model = obj.get('model') if isinstance(obj, dict) else None
    if not isinstance(model, dict):
        raise KeyError(f'{path}: not a detectron2 checkpoint (no "model" dict at the top level)')
    return model
