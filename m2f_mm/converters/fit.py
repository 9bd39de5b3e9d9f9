"""Fit a renamed state dict to the model a config builds, or say exactly why not.

Three things can differ between a published checkpoint and a config:

- values that the config holds and the checkpoint does not (mmdet keeps the
  no-object weight in its loss config, detectron2's frozen BN has no
  ``num_batches_tracked``): taken from the model;
- the class count: refused with both counts, unless ``reset_classes``
  re-initialises the class layer and the no-object weight for fine-tuning;
- anything else (a missing or unexpected key, another query count or width):
  refused with the list.
"""
from typing import Dict, List, Tuple

from torch import Tensor

from m2f_mm.utils.errors import DataError

__all__ = ['CheckpointMismatchError', 'ClassCountMismatchError', 'check_class_count',
           'fit_state_dict', 'load_trained_weights']

# Per-class tensors: the class layer (K + 1 rows) and the no-object weight (K + 1).
CLASS_KEY_SUFFIXES = ('class_embed.weight', 'class_embed.bias', 'criterion.empty_weight')
# Held by the config (or bookkeeping), not by the weights; taken from the model when absent.
CONFIG_KEY_SUFFIXES = ('criterion.empty_weight', 'num_batches_tracked',
                       # transformers 5 recomputes the Swin index from the window size.
                       'relative_position_index')
RESET_FLAG = '--reset-classes'


class CheckpointMismatchError(DataError):
    """The checkpoint does not fit the config's model."""


class ClassCountMismatchError(CheckpointMismatchError):
    """The checkpoint was trained for another number of classes than the config has."""


def _num_classes(state_dict: Dict[str, Tensor]) -> Dict[str, int]:
    return {key: value.shape[0] - 1 for key, value in state_dict.items()
            if key.endswith('class_embed.weight')}


def check_class_count(state_dict: Dict[str, Tensor], model_state: Dict[str, Tensor],
                      reset_classes: bool, source: str) -> Tuple[Dict[str, Tensor], List[str]]:
    """Refuse, or with ``reset_classes`` re-initialise, a class layer of another count.

    Args:
        state_dict: Checkpoint tensors with the model's names.
        model_state: The config's freshly initialised model state dict.
        reset_classes: Take the per-class tensors from ``model_state`` when the
            counts differ.
        source: The checkpoint's name, for the messages.

    Returns:
        The state dict to load and the lines to print.

    Raises:
        ClassCountMismatchError: naming both counts, when they differ and
            ``reset_classes`` is not set.
    """
    ours = _num_classes(model_state)
    theirs = {key: count for key, count in _num_classes(state_dict).items() if key in ours}
    differing = {key: (count, ours[key]) for key, count in theirs.items() if count != ours[key]}
    if not differing:
        return state_dict, []
    key, (ckpt_count, cfg_count) = next(iter(differing.items()))
    if not reset_classes:
        raise ClassCountMismatchError(
            f'{source} was trained for {ckpt_count} classes, the config has {cfg_count} '
            f'({key}); pass {RESET_FLAG} to re-initialise class_embed and '
            'criterion.empty_weight for fine-tuning on the config\'s classes')
    reset = sorted(k for k in model_state if k.endswith(CLASS_KEY_SUFFIXES))
    fitted = {**state_dict, **{k: model_state[k] for k in reset}}
    return fitted, [f'{RESET_FLAG}: {source} has {ckpt_count} classes, the config '
                    f'{cfg_count}: re-initialised {", ".join(reset)} for fine-tuning']


def fit_state_dict(state_dict: Dict[str, Tensor], model_state: Dict[str, Tensor],
                   reset_classes: bool = False,
                   source: str = 'checkpoint') -> Tuple[Dict[str, Tensor], List[str]]:
    """Make ``state_dict`` load into the model with ``strict=True``, or raise.

    Args:
        state_dict: Checkpoint tensors, renamed to the model's keys.
        model_state: The config's model state dict (initialised).
        reset_classes: See :func:`check_class_count`.
        source: The checkpoint's name, for the messages.

    Returns:
        The complete state dict and the lines to print (keys taken from the
        config, class reset).

    Raises:
        ClassCountMismatchError: See :func:`check_class_count`.
        CheckpointMismatchError: listing missing and unexpected keys and shape
            mismatches.
    """
    fitted, notes = check_class_count(state_dict, model_state, reset_classes, source)
    from_config = sorted(k for k in model_state
                         if k not in fitted and k.endswith(CONFIG_KEY_SUFFIXES))
    fitted.update({k: model_state[k] for k in from_config})
    if from_config:
        notes.append(f'taken from the config ({len(from_config)} keys the checkpoint does not '
                     f'hold): {_short(from_config)}')
    missing = sorted(set(model_state) - set(fitted))
    unexpected = sorted(set(fitted) - set(model_state))
    shapes = [f'{k}: checkpoint {tuple(fitted[k].shape)}, config {tuple(model_state[k].shape)}'
              for k in sorted(set(fitted) & set(model_state))
              if fitted[k].shape != model_state[k].shape]
    problems = [f'{what} ({len(keys)}): {_short(keys)}' for what, keys in (
        ('missing keys', missing), ('unexpected keys', unexpected), ('shape mismatches', shapes))
        if keys]
    if problems:
        raise CheckpointMismatchError(f'{source} does not fit the config\'s model: '
                                      + '; '.join(problems))
    return fitted, notes


def load_trained_weights(model, checkpoint_path: str, config_path: str) -> dict:
    """Load an m2f_mm (Runner) checkpoint into ``model`` for inference or export, or
    raise: unlike mmengine, never go on with random weights where the checkpoint has
    none, another shape or another class count.

    Args:
        model: The config's model (an ``nn.Module``).
        checkpoint_path: The checkpoint file.
        config_path: The config's path, for the messages.

    Returns:
        The loaded checkpoint (its ``meta`` holds the dataset's metainfo).

    Raises:
        CheckpointMismatchError: Another class count (both named), or tensors the
            checkpoint lacks or holds in another shape.
    """
    from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
    checkpoint = _load_checkpoint(checkpoint_path, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    model_state = model.state_dict()
    source = f'checkpoint {checkpoint_path}'
    try:
        state_dict, _ = check_class_count(state_dict, model_state, False, source=source)
    except ClassCountMismatchError as err:  # no --reset-classes advice: this is not training
        raise ClassCountMismatchError(str(err).split(f'; pass {RESET_FLAG}')[0]) from None
    missing = [k for k in model_state
               if k not in state_dict and not k.endswith(CONFIG_KEY_SUFFIXES)]
    shapes = [k for k in model_state
              if k in state_dict and state_dict[k].shape != model_state[k].shape]
    if missing or shapes:
        problems = [f'{what} ({len(keys)} of {len(model_state)}, e.g. {keys[0]})'
                    for what, keys in (('missing tensors', missing),
                                       ('other shapes', shapes)) if keys]
        raise CheckpointMismatchError(f'{source} does not fit the model of {config_path}: '
                                      + '; '.join(problems))
    load_state_dict(model, state_dict, strict=False, logger='current')
    return checkpoint


def _short(items: List[str], limit: int = 6) -> str:
    return ', '.join(items[:limit]) + (f' and {len(items) - limit} more' if len(items) > limit
                                       else '')
