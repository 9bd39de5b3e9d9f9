"""Convert a published Mask2Former checkpoint into the state dict of an m2f_mm model.

Each source format is a reader (file -> tensors under the source's names) and
a key map (source names -> the model's names, given where the model keeps its
head); :func:`convert_checkpoint` runs both and fits the result to the model.
"""
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from m2f_mm.models.mask2former_head import Mask2FormerHead
from m2f_mm.utils.checkpoint import allow_mmengine_checkpoint_types
from .detectron2_keys import detectron2_key_map
from .fit import CheckpointMismatchError, fit_state_dict
from .hf_keys import hf_key_map, read_hf
from .label_order import reorder_classes
from .mmdet_keys import mmdet_model_rules
from .rename import rename_keys
from .safe_pickle import load_detectron2_pkl

__all__ = ['SourceFormat', 'SOURCE_FORMATS', 'head_prefix', 'convert_checkpoint']


class SourceFormat(NamedTuple):
    """How to read one kind of published checkpoint, and whether its panoptic classes
    follow the reference's dataset order (:mod:`m2f_mm.converters.label_order`)."""
    read: Callable[[str], Dict[str, Tensor]]
    key_map: Callable[[Dict[str, Tensor], str], Dict[str, Tensor]]
    reference_label_order: bool


def _read_detectron2(path: str) -> Dict[str, Tensor]:
    return {key: torch.from_numpy(np.ascontiguousarray(value))
            for key, value in load_detectron2_pkl(path).items()}


def _read_mmengine(path: str) -> Dict[str, Tensor]:
    """An mmdet / mmseg checkpoint, loaded weights-only (no code runs)."""
    allow_mmengine_checkpoint_types()
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    return checkpoint.get('state_dict', checkpoint)


def _mmdet_key_map(state_dict: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return rename_keys(state_dict, mmdet_model_rules(prefix), 'mmdet/mmseg')


SOURCE_FORMATS: Dict[str, SourceFormat] = {
    'detectron2': SourceFormat(_read_detectron2, detectron2_key_map, True),
    'mmdet': SourceFormat(_read_mmengine, _mmdet_key_map, False),
    'hf': SourceFormat(read_hf, hf_key_map, True),
}


def head_prefix(model: nn.Module) -> str:
    """The state-dict prefix of the model's Mask2Former head, e.g. ``panoptic_head.``."""
    names = [name for name, module in model.named_modules()
             if isinstance(module, Mask2FormerHead)]
    if len(names) != 1:
        raise CheckpointMismatchError(
            f'the config\'s model has {len(names)} m2f_mm Mask2Former heads; a converted '
            'checkpoint needs exactly one')
    return names[0] + '.'


def convert_checkpoint(path: str, source: str, model: nn.Module, reset_classes: bool = False,
                       label_order: Optional[List[int]] = None
                       ) -> Tuple[Dict[str, Tensor], List[str]]:
    """Read ``path`` in the ``source`` format and fit it to ``model``.

    Args:
        path: The published checkpoint.
        source: A key of :data:`SOURCE_FORMATS`.
        model: The model the target config builds (initialised: a class reset
            takes its values).
        reset_classes: See :func:`m2f_mm.converters.fit.check_class_count`.
        label_order: For each of the model's labels, the class index of a
            checkpoint in the reference's order, or None (see
            :func:`m2f_mm.converters.label_order.reference_label_order`).

    Returns:
        A state dict that ``model.load_state_dict(..., strict=True)`` accepts,
        and the lines to print.

    Raises:
        KeyError: a source key without an m2f_mm name.
        CheckpointMismatchError: the converted keys or shapes do not fit the model.
    """
    reader = SOURCE_FORMATS[source]
    renamed = reader.key_map(reader.read(path), head_prefix(model))
    notes = []
    if label_order is not None and reader.reference_label_order:
        renamed, notes = reorder_classes(renamed, label_order)
    fitted, fit_notes = fit_state_dict(renamed, model.state_dict(), reset_classes, source=path)
    return fitted, notes + fit_notes
