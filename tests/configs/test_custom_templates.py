"""The custom-dataset templates (configs/custom/, docs/custom_dataset.md), used as a user
does: a copy with only the paths and class names edited.

A small dataset of each kind is written to a temporary directory with class names of its
own (the toy generator's images and annotations, its categories renamed). Each edited
template trains a few iterations through tools/train.py and evaluates. To fit a CPU, a
child config swaps in the toy model and pipelines; the data set-up (dataset types, class
names, derived class counts, evaluators) is the template's. Wrong settings stop with one
line naming the file or key.
"""
import glob
import json
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from toy_data import generate_toy_dataset
from tests._tool_errors import assert_one_line_error

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEMPLATES = osp.join(REPO, 'configs', 'custom')
PANOPTIC = osp.join(TEMPLATES, 'mask2former_r50_8xb2-lsj-50e_custom-panoptic.py')
INSTANCE = osp.join(TEMPLATES, 'mask2former_r50_8xb2-lsj-50e_custom-instance.py')
SEMANTIC = osp.join(TEMPLATES, 'mask2former_r50_8xb2-160k_custom-semantic-512x512.py')
# Our names for the toy categories, in the files' order (three things, then two stuff).
THINGS = ('apple', 'pear', 'plum')
STUFF = ('sea', 'sand')
ITERS = 4


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """The toy data under a temporary root, its categories renamed."""
    root = tmp_path_factory.mktemp('my_data')
    generate_toy_dataset(str(root), num_train=4, num_val=2, image_size=(64, 64))
    names = dict(zip(('circle', 'square', 'triangle', 'sky', 'ground'), THINGS + STUFF))
    for name in ('panoptic_train', 'panoptic_val', 'instances_train', 'instances_val'):
        path = root / 'coco' / 'annotations' / f'{name}.json'
        content = json.loads(path.read_text())
        for category in content['categories']:
            category['name'] = names[category['name']]
        path.write_text(json.dumps(content))
    return root


def edit(template, **values):
    """The template's text with the given ``name = value`` lines replaced, and its base
    made absolute (the copy lives elsewhere)."""
    text = open(template).read()
    text = text.replace("_base_ = ['../", f"_base_ = ['{osp.dirname(template)}/../")
    for name, value in values.items():
        text, count = re.subn(rf'^{name} = .*$', f'{name} = {value!r}', text, flags=re.M)
        assert count == 1, name
    return text


def _toy(name):
    return Config.fromfile(osp.join(REPO, 'configs', 'toy', name))


# COCO instance loading for the toy model's pipelines (its own are panoptic).
INSTANCE_PIPELINES = (
    [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
     dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')],
    [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
     dict(type='PackDetInputs')])


def cpu_sized(task):
    """A child config's overrides: the toy model and pipelines, a few iterations."""
    toy = _toy('mask2former_r18-half_1xb8-600it_toy-semantic.py' if task == 'semantic' else
               'mask2former_r18-half_1xb8-600it_toy-panoptic.py')
    head = 'decode_head' if task == 'semantic' else 'panoptic_head'
    train_pipeline, test_pipeline = (INSTANCE_PIPELINES if task == 'instance' else
                                     (toy.train_pipeline, toy.test_pipeline))
    head_keys = ('in_channels', 'strides', 'num_queries', 'embed_dims', 'mask_channels',
                 'pixel_decoder', 'transformer_decoder', 'criterion')
    overrides = dict(
        model=dict(backbone=dict(toy.model.backbone, _delete_=True),
                   data_preprocessor=dict(toy.model.data_preprocessor, _delete_=True),
                   **{head: {k: toy.model[head][k] for k in head_keys}}),
        train_dataloader=dict(batch_size=2, num_workers=0, persistent_workers=False,
                              dataset=dict(pipeline=train_pipeline)),
        val_dataloader=dict(num_workers=0, persistent_workers=False,
                            dataset=dict(pipeline=test_pipeline)),
        train_cfg=dict(max_iters=ITERS, val_interval=ITERS),
        default_hooks=dict(checkpoint=dict(interval=ITERS)),
        custom_hooks=[dict(type='m2f_mm.DataSanityHook')])
    overrides['test_dataloader'] = overrides['val_dataloader']
    return overrides


def train(tmp_path, text, task, *options):
    (tmp_path / 'my_config.py').write_text(text)
    child = ["_base_ = ['./my_config.py']"] + [f'{k} = {v!r}'
                                                for k, v in cpu_sized(task).items()]
    (tmp_path / 'cpu.py').write_text('\n'.join(child) + '\n')
    return subprocess.run(
        [sys.executable, 'tools/train.py', str(tmp_path / 'cpu.py'), '--work-dir',
         str(tmp_path / 'work'), *(['--cfg-options', *options] if options else [])],
        cwd=REPO, capture_output=True, text=True)


def _coco_paths(data, kind):
    return dict(data_root=str(data / 'coco') + '/', train_json=f'annotations/{kind}_train.json',
                val_json=f'annotations/{kind}_val.json')


def panoptic(data, **values):
    return edit(PANOPTIC, **{**_coco_paths(data, 'panoptic'), 'thing_classes': THINGS,
                             'stuff_classes': STUFF, **values})


def instance(data, **values):
    return edit(INSTANCE, **{**_coco_paths(data, 'instances'), 'classes': THINGS, **values})


def semantic(data, **values):
    return edit(SEMANTIC, **{'data_root': str(data / 'ade') + '/', 'classes': THINGS + STUFF,
                             'reduce_zero_label': True, **values})


def _assert_trained(proc, tmp_path, keys):
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'work' / f'iter_{ITERS}.pth')
    logs = glob.glob(str(tmp_path / 'work' / '*' / 'vis_data' / 'scalars.json'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        evaluations = [r for r in map(json.loads, f) if keys[0] in r]
    assert len(evaluations) == 1, logs[0]  # the evaluation after the last iteration
    for key in keys:
        assert np.isfinite(evaluations[0][key]), (key, evaluations[0])


@pytest.mark.slow
def test_panoptic_template_trains_and_evaluates(data, tmp_path):
    proc = train(tmp_path, panoptic(data), 'panoptic')
    _assert_trained(proc, tmp_path, ['coco_panoptic/PQ', 'coco_panoptic/PQ_th', 'mIoU'])


@pytest.mark.slow
def test_instance_template_trains_and_evaluates(data, tmp_path):
    proc = train(tmp_path, instance(data), 'instance')
    _assert_trained(proc, tmp_path, ['coco/segm_mAP'])


@pytest.mark.slow
def test_semantic_template_trains_and_evaluates(data, tmp_path):
    proc = train(tmp_path, semantic(data), 'semantic')
    _assert_trained(proc, tmp_path, ['mIoU'])


def test_class_counts_follow_the_class_names():
    for template, key, count in [(PANOPTIC, 'panoptic_head', 4), (INSTANCE, 'panoptic_head', 2),
                                 (SEMANTIC, 'decode_head', 3)]:
        cfg = Config.fromfile(template)
        head = cfg.model[key]
        counted = (head.num_things_classes + head.num_stuff_classes if key == 'panoptic_head'
                   else head.num_classes)
        names = cfg.train_dataloader.dataset.metainfo.classes
        assert counted == len(names) == count
        assert cfg.val_dataloader.dataset.metainfo.classes == names


def _assert_one_line_error(proc, *fragments):
    assert_one_line_error(proc, 'train.py: error: ', *fragments)


def test_misspelled_class_name(data, tmp_path):
    proc = train(tmp_path, instance(data, classes=('apple', 'peer', 'plum')), 'instance')
    _assert_one_line_error(proc, 'instances_train.json', "['peer']", 'category names')


def test_classes_in_another_order_than_the_file(data, tmp_path):
    proc = train(tmp_path, instance(data, classes=('pear', 'apple', 'plum')), 'instance')
    _assert_one_line_error(proc, 'instances_train.json', 'order', "['apple', 'pear', 'plum']")


def test_stuff_class_marked_as_thing(data, tmp_path):
    proc = train(tmp_path, panoptic(data, thing_classes=THINGS + ('sea',),
                                    stuff_classes=('sand',)), 'panoptic')
    _assert_one_line_error(proc, 'panoptic_train.json', "'sea' is in metainfo.thing_classes",
                           'isthing: 0')


def test_class_count_that_disagrees_with_the_names(data, tmp_path):
    proc = train(tmp_path, semantic(data), 'semantic', 'model.decode_head.num_classes=7')
    _assert_one_line_error(proc, 'model.decode_head.num_classes = 7', '5 classes')


def test_label_outside_the_class_range(data, tmp_path):
    labels = data / 'ade' / 'annotations' / 'training'
    bad = sorted(labels.iterdir())[0]
    original = bad.read_bytes()
    label_map = np.array(Image.open(bad))
    label_map[:4, :4] = 9  # class 8 after reduce_zero_label, of 5
    Image.fromarray(label_map).save(bad)
    try:
        proc = train(tmp_path, semantic(data), 'semantic')
    finally:
        bad.write_bytes(original)
    _assert_one_line_error(proc, str(bad), 'label 8', 'num_classes=5')
