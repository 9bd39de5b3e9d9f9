"""DataSanityHook: early, named errors for an empty dataset or a class-count mismatch."""
from types import SimpleNamespace

import pytest
from torch import nn

from m2f_mm.engine import DataSanityHook
from m2f_mm.utils import DataError


class _Dataset:
    def __init__(self, n, classes, data_root='/data/toy'):
        self.n, self.metainfo, self.data_root = n, dict(classes=classes), data_root
        self.ann_file = f'{data_root}/ann.json'

    def __len__(self):
        return self.n


def _runner(head_attr, num_classes, dataset):
    model = nn.Module()
    setattr(model, head_attr, SimpleNamespace(num_classes=num_classes))
    loop = SimpleNamespace(dataloader=SimpleNamespace(dataset=dataset))
    return SimpleNamespace(model=model, train_loop=loop, val_loop=loop, test_loop=loop)


def test_consistent_setup_passes():
    runner = _runner('panoptic_head', 3, _Dataset(5, ('a', 'b', 'c')))
    hook = DataSanityHook()
    hook.before_train(runner)
    hook.before_val(runner)
    hook.before_test(runner)


def test_empty_dataset_is_named():
    runner = _runner('decode_head', 3, _Dataset(0, ('a', 'b', 'c'), data_root='/nowhere'))
    with pytest.raises(DataError, match=r'train_dataloader.dataset is empty .*'
                                        r'data_root=/nowhere.*ann_file=/nowhere/ann.json'):
        DataSanityHook().before_train(runner)


@pytest.mark.parametrize('head_attr,key', [
    ('panoptic_head', r'model.panoptic_head.num_things_classes \+ num_stuff_classes = 4'),
    ('decode_head', 'model.decode_head.num_classes = 4'),
])
def test_class_count_mismatch_names_both_keys(head_attr, key):
    runner = _runner(head_attr, 4, _Dataset(5, ('a', 'b', 'c')))
    with pytest.raises(DataError, match=key + r".*val_dataloader.dataset.metainfo.classes has 3"):
        DataSanityHook().before_val(runner)
