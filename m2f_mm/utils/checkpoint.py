"""Safe loading of mmengine Runner checkpoints under torch >= 2.6.

torch.load defaults to ``weights_only=True`` from torch 2.6, and mmengine
0.10.x calls it without that argument. A Runner checkpoint then fails to load
because its message hub holds a few non-tensor objects:

- ``HistoryBuffer`` instances, with numpy arrays (array, dtype and scalar
  reconstructors) inside;
- each buffer's statistics methods, which pickle as
  ``getattr(HistoryBuffer, 'min')`` and so on.

Instead of switching ``weights_only`` off, which lets a pickle run code, these
exact objects are added to torch's allow-list. ``getattr`` itself is never
allowed: the global ``builtins.getattr`` is mapped to
:func:`history_buffer_statistic`, which only hands out HistoryBuffer's
registered statistics methods.
"""
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['history_buffer_statistic', 'mmengine_checkpoint_types',
           'allow_mmengine_checkpoint_types']

# HistoryBuffer registers these on its first instantiation, so a fresh process
# that only loads a checkpoint has not registered them yet.
_DEFAULT_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner: Any, name: str) -> Any:
    """Stand-in for ``getattr`` while unpickling: HistoryBuffer statistics only.

    Args:
        owner: The object whose attribute the pickle asks for.
        name: The attribute name.

    Returns:
        ``getattr(HistoryBuffer, name)`` for a registered statistics method.

    Raises:
        pickle.UnpicklingError: For anything else.
    """
    registered = set(_DEFAULT_STATISTICS) | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in registered:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); weights-only loading allows only '
        'the statistics methods of mmengine.logging.HistoryBuffer')


def mmengine_checkpoint_types() -> List[Any]:
    """Return the globals that an mmengine Runner checkpoint pickles.

    Entries are callables, or ``(callable, 'module.name')`` pairs that map a
    pickled global name to a different callable, as
    ``torch.serialization.add_safe_globals`` accepts them.
    """
    # Ask numpy what it pickles (numpy 1.x and 2.x name the module differently):
    # arrays reduce to multiarray._reconstruct(ndarray, shape, dtype), scalars
    # to multiarray.scalar(dtype, bytes), and each dtype instance has its own
    # class, e.g. numpy.dtypes.Float64DType.
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    dtype_classes = [type(np.dtype(t)) for t in
                     ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                      'uint64', 'float16', 'float32', 'float64')]
    return [HistoryBuffer, np.ndarray, np.dtype, reconstruct, scalar, *dtype_classes,
            (history_buffer_statistic, 'builtins.getattr')]


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list :func:`mmengine_checkpoint_types` for ``torch.load``."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())
