"""Published Mask2Former checkpoints (detectron2 .pkl, mmdet / mmseg .pth,
transformers) -> m2f_mm checkpoints. Imports no host library."""
from .convert import SOURCE_FORMATS, convert_checkpoint, head_prefix
from .fit import (CheckpointMismatchError, ClassCountMismatchError, check_class_count,
                  fit_state_dict, load_trained_weights)
from .safe_pickle import UnsafePickleError, load_detectron2_pkl

__all__ = ['SOURCE_FORMATS', 'convert_checkpoint', 'head_prefix', 'CheckpointMismatchError',
           'ClassCountMismatchError', 'check_class_count', 'fit_state_dict', 'load_trained_weights',
           'UnsafePickleError', 'load_detectron2_pkl']
