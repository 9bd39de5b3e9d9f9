"""Fine-tuning from a checkpoint trained for another number of classes.

mmengine loads ``load_from`` with ``strict=False``: a class layer of another
shape is skipped with a warning and the run goes on with a random class layer,
or a converted checkpoint for another dataset evaluates to nonsense.
:class:`ClassCountHook` checks the class count when the checkpoint is read
and stops with one line naming both counts, or, with ``reset_classes``
(``tools/train.py --reset-classes``), keeps the model's freshly initialised
``class_embed`` and ``criterion.empty_weight`` and says so.
"""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from m2f_mm.converters.fit import check_class_count
from m2f_mm.registry import HOOKS

__all__ = ['ClassCountHook']


@HOOKS.register_module()
class ClassCountHook(Hook):
    """Refuse or reset a checkpoint's class layer of another class count.

    Args:
        reset_classes: Re-initialise the per-class tensors instead of refusing.
    """

    priority = 'VERY_HIGH'

    def __init__(self, reset_classes: bool = False) -> None:
        self.reset_classes = reset_classes

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check (and with ``reset_classes`` fix) ``checkpoint`` before it is loaded."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state_dict = checkpoint.get('state_dict', checkpoint)
        fitted, notes = check_class_count(state_dict, model.state_dict(), self.reset_classes,
                                          source=f'load_from={runner._load_from}')
        state_dict.update(fitted)  # in place: mmengine loads from this dict next
        for note in notes:
            print_log(note, logger='current')
