"""Runner parts: hooks for safe runs and the CPU mixed-precision optimizer wrapper;
importing this package registers them."""
from .class_count import ClassCountHook
from .checkpoint import AtomicCheckpointHook, is_complete_checkpoint, resumable_checkpoint
from .hooks import DataSanityHook
from .optim_wrapper import AutocastOptimWrapper
from .random_state import RandomStateHook

__all__ = ['ClassCountHook', 'DataSanityHook', 'AtomicCheckpointHook', 'RandomStateHook', 'AutocastOptimWrapper',
           'is_complete_checkpoint', 'resumable_checkpoint']
