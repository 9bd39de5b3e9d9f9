"""Turning a network's plain torch layers into m2f_mm's drop-in subclasses, in place."""
from torch import nn

__all__ = ['retype_layers']


def retype_layers(module: nn.Module, plain: type, ours: type) -> int:
    """Make every layer of exactly class ``plain`` inside ``module`` an ``ours``.

    ``ours`` subclasses ``plain`` and adds no state, so each layer keeps its
    object, parameters, buffers and checkpoint keys; subclasses of ``plain``
    (SyncBatchNorm, mmcv's convolutions, ...) are left alone.

    Returns:
        The number of layers changed.
    """
    if not issubclass(ours, plain):
        raise TypeError(f'{ours.__name__} does not subclass {plain.__name__}')
    changed = 0
    for m in module.modules():
        if type(m) is plain:
            m.__class__ = ours
            changed += 1
    return changed
