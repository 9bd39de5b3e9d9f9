"""A typo in a config key, caught with the nearest valid key instead of a TypeError deep
inside a build."""
import difflib
import inspect
from typing import Iterable

from .errors import DataError

__all__ = ['check_arguments']


def check_arguments(target: type, keys: Iterable[str], where: str) -> None:
    """Raise one DataError for the first key that ``target``'s constructor does not take.

    Args:
        target: The class about to be built (a constructor with ``**kwargs`` takes any key).
        keys: The config's keys (``type`` and ``_scope_`` are the registry's own).
        where: The config key of the dict, for the message (e.g. ``model.decode_head``).

    Raises:
        DataError: Naming the key and the nearest valid one.
    """
    params = inspect.signature(target.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [name for name in params if name != 'self']
    for key in keys:
        if key in ('type', '_scope_') or key in valid:
            continue
        nearest = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
        hint = f'; did you mean {nearest[0]!r}?' if nearest else ''
        raise DataError(f'{where}.{key} is not an argument of {target.__name__}{hint}')
