"""Checks that stop a run early, with a message naming the config key, on bad data set-ups."""

from mmengine.hooks import Hook
from mmengine.dist import get_rank
from mmengine.model import is_model_wrapper

from m2f_mm.registry import HOOKS
from m2f_mm.utils.errors import DataError

__all__ = ['DataSanityHook']

# Head attribute that holds the number of classes the model predicts, per host.
_HEADS = (('panoptic_head', 'model.panoptic_head.num_things_classes + num_stuff_classes'),
          ('decode_head', 'model.decode_head.num_classes'))


def _describe(dataset) -> str:
    """Where a dataset reads from, for error messages."""
    parts = [f'{type(dataset).__name__}']
    for attr in ('data_root', 'ann_file', 'data_prefix'):
        value = getattr(dataset, attr, None)
        if value:
            parts.append(f'{attr}={value}')
    return ', '.join(parts)


@HOOKS.register_module()
class DataSanityHook(Hook):
    """Fail fast on an empty dataset or a model whose class count disagrees with it.

    An empty training set would otherwise make mmengine's InfiniteSampler spin
    forever, and a class-count mismatch trains or evaluates garbage.

    Args:
        check_label_maps: Before training a semantic model, read every label map
            of the training set once (rank 0; seconds for thousands of maps) and
            stop on a value that is neither a class nor the ignore index.
    """

    def __init__(self, check_label_maps: bool = True) -> None:
        self.check_label_maps = check_label_maps

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_loop.dataloader.dataset, 'train_dataloader')
        self._check_label_maps(runner, runner.train_loop.dataloader.dataset, 'train_dataloader')
        # An empty val set would otherwise surface only after all the training.
        if runner.val_loop is not None:
            self._check(runner, runner.val_loop.dataloader.dataset, 'val_dataloader')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_loop.dataloader.dataset, 'val_dataloader')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_loop.dataloader.dataset, 'test_dataloader')

    def _check_label_maps(self, runner, dataset, key: str) -> None:
        """Scan a semantic training set's label maps once, on rank 0, before training."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, 'decode_head', None)
        if not self.check_label_maps or head is None or get_rank() != 0:
            return
        runner.logger.info(f'DataSanityHook: checking the label maps of {key}.dataset '
                           '(check_label_maps=False skips this)')
        # Imported here: m2f_mm.datasets registers host parts, the engine is host-free.
        from m2f_mm.datasets.label_maps import find_bad_label
        found = find_bad_label(dataset, head.num_classes, head.ignore_index)
        if found is not None:
            path, value = found
            raise DataError(f'{path}: label {value} is >= model.decode_head.num_classes='
                            f'{head.num_classes} and is not the ignore index '
                            f'{head.ignore_index}')

    @staticmethod
    def _check(runner, dataset, key: str) -> None:
        if len(dataset) == 0:
            raise DataError(f'{key}.dataset is empty ({_describe(dataset)}); check its '
                             'data_root, ann_file and data_prefix, and that the images exist')
        classes = dataset.metainfo.get('classes')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for attr, cfg_key in _HEADS:
            head = getattr(model, attr, None)
            if head is not None and classes is not None and head.num_classes != len(classes):
                raise DataError(
                    f'{cfg_key} = {head.num_classes}, but {key}.dataset.metainfo.classes has '
                    f'{len(classes)} classes {tuple(classes)} '
                    f'({_describe(dataset)}); make them agree')
