"""Bad input stops tools/train.py with one line naming the file or config key, no traceback."""
import json
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

import m2f_mm  # noqa: F401
from toy_data import generate_toy_dataset
from tests._tool_errors import assert_one_line_error

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py'


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    generate_toy_dataset(str(root), num_train=4, num_val=2, image_size=(64, 64))
    return root / 'coco'


def _train(data_root, *options, config=CONFIG, validate=False):
    """Run a 1-iteration training on ``data_root``, validating on it too if asked."""
    annotations = f'{data_root}/annotations/'
    val = ([f'val_dataloader.dataset.data_root={data_root}/',
            f'val_evaluator.0.ann_file={annotations}panoptic_val.json',
            f'val_evaluator.0.seg_prefix={annotations}panoptic_val/',
            f'val_evaluator.1.ann_file={annotations}instances_val.json'] if validate else
           ['val_dataloader=None', 'val_cfg=None', 'val_evaluator=None'])
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', osp.join(data_root, '..', 'wd'),
           '--cfg-options', f'train_dataloader.dataset.data_root={data_root}/',
           'train_cfg.max_iters=1', 'train_dataloader.batch_size=2', *val, *options]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def _assert_one_line_error(proc, *fragments):
    assert_one_line_error(proc, 'train.py: error: ', *fragments)


def test_the_setup_itself_trains(toy_root):
    proc = _train(str(toy_root))
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_missing_data_root(tmp_path):
    _assert_one_line_error(_train(str(tmp_path / 'nowhere')),
                           str(tmp_path / 'nowhere'), 'panoptic_train.json')


def test_corrupt_image(toy_root, tmp_path):
    root = tmp_path / 'coco'
    shutil.copytree(toy_root, root)
    for image in (root / 'train').iterdir():
        image.write_bytes(b'not a jpeg')
    _assert_one_line_error(_train(str(root)), 'failed to load image', str(root / 'train'))


def test_corrupt_annotation_png(toy_root, tmp_path):
    root = tmp_path / 'coco'
    shutil.copytree(toy_root, root)
    for png in (root / 'annotations' / 'panoptic_train').iterdir():
        png.write_bytes(b'\x89PNG broken')
    _assert_one_line_error(_train(str(root)), 'cannot decode panoptic PNG',
                           str(root / 'annotations' / 'panoptic_train'))


def test_segment_id_missing_from_png(toy_root, tmp_path):
    root = tmp_path / 'coco'
    shutil.copytree(toy_root, root)
    ann_file = root / 'annotations' / 'panoptic_train.json'
    ann = json.loads(ann_file.read_text())
    for image_ann in ann['annotations']:
        image_ann['segments_info'][0]['id'] = 123457  # no pixel carries it
    ann_file.write_text(json.dumps(ann))
    _assert_one_line_error(_train(str(root)), 'segment id 123457', 'panoptic_train')


def test_num_classes_disagrees_with_dataset(toy_root):
    proc = _train(str(toy_root), 'model.panoptic_head.num_stuff_classes=3')
    _assert_one_line_error(proc, 'model.panoptic_head.num_things_classes + num_stuff_classes = 6',
                           'train_dataloader.dataset.metainfo.classes has 5')


@pytest.mark.parametrize('split', ['train', 'val'])
def test_empty_dataset(toy_root, tmp_path, split):
    """Caught before training, the val set too (not only after all the training)."""
    root = tmp_path / 'coco'
    shutil.copytree(toy_root, root)
    ann_file = root / 'annotations' / f'panoptic_{split}.json'
    ann = json.loads(ann_file.read_text())
    ann['images'], ann['annotations'] = [], []
    ann_file.write_text(json.dumps(ann))
    proc = _train(str(root), validate=split == 'val')
    _assert_one_line_error(proc, f'{split}_dataloader.dataset is empty', str(root))
    assert 'Iter(train)' not in proc.stdout + proc.stderr


def _edit_first_segment(toy_root, tmp_path, **changes):
    """A copy of the data whose first training segment has ``changes``."""
    root = tmp_path / 'coco'
    shutil.copytree(toy_root, root)
    ann_file = root / 'annotations' / 'panoptic_train.json'
    ann = json.loads(ann_file.read_text())
    segment = ann['annotations'][0]['segments_info'][0]
    segment.update(changes)
    ann_file.write_text(json.dumps(ann))
    return root, ann['annotations'][0]['file_name'], segment['id']


def test_unknown_category_id(toy_root, tmp_path):
    root, png, segment = _edit_first_segment(toy_root, tmp_path, category_id=999)
    _assert_one_line_error(_train(str(root)), 'panoptic_train.json: image', f'segment {segment}',
                           'category_id 999, which is not among the file\'s categories')


def test_segment_with_zero_area(toy_root, tmp_path):
    root, png, segment = _edit_first_segment(toy_root, tmp_path, area=0)
    _assert_one_line_error(_train(str(root)), 'panoptic_train.json: image', f'segment {segment}',
                           'has area 0 in the JSON')


def test_fusion_head_counts_that_disagree(toy_root):
    _assert_one_line_error(_train(str(toy_root), 'model.panoptic_fusion_head.num_stuff_classes=3'),
                           'model.panoptic_fusion_head.num_stuff_classes=3 disagrees with '
                           'model.panoptic_head.num_stuff_classes=2')


@pytest.mark.parametrize('option, message', [
    ('model.panoptic_head.num_querys=10',
     "model.panoptic_head.num_querys is not an argument of Mask2FormerHead; did you mean "
     "'num_queries'?"),
    ('model.panoptic_head.pixel_decoder.num_layer=2',
     "model.panoptic_head.pixel_decoder.num_layer is not an argument of "
     "MSDeformAttnPixelDecoder; did you mean 'num_layers'?"),
])
def test_typo_in_a_head_key(toy_root, option, message):
    _assert_one_line_error(_train(str(toy_root), option), message)



def test_semantic_label_beyond_num_classes(tmp_path):
    """A label map value that is neither a class nor the ignore index."""
    import numpy as np
    from PIL import Image
    generate_toy_dataset(str(tmp_path / 'toy'), num_train=2, num_val=1, image_size=(64, 64))
    ade = tmp_path / 'toy' / 'ade'
    for png in (ade / 'annotations' / 'training').iterdir():
        label = np.array(Image.open(png))
        label[:4, :4] = 9  # 8 after reduce_zero_label; the model has 5 classes
        Image.fromarray(label).save(png)
    proc = _train(str(ade), config='configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py')
    _assert_one_line_error(proc, 'annotations/training/', 'label 8 is >= '
                           'model.decode_head.num_classes=5 and is not the ignore index 255')
    # Found by DataSanityHook's scan, before the first iteration.
    assert 'checking the label maps' in proc.stdout + proc.stderr
    assert 'Iter(train)' not in proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def other_dataset_checkpoint(tmp_path_factory):
    """The toy model's weights as if trained on a dataset of 3 more classes."""
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    state_dict = model.state_dict()
    for key in [k for k in state_dict if k.endswith(('class_embed.weight', 'class_embed.bias',
                                                     'criterion.empty_weight'))]:
        state_dict[key] = torch.cat([state_dict[key], state_dict[key][:3]])
    path = tmp_path_factory.mktemp('other_dataset') / 'other.pth'
    torch.save(dict(meta={}, state_dict=state_dict), path)
    return str(path), model.panoptic_head.num_classes


def test_load_from_another_class_count_is_refused(toy_root, other_dataset_checkpoint):
    path, num_classes = other_dataset_checkpoint
    _assert_one_line_error(_train(str(toy_root), f'load_from={path}'),
                           f'load_from={path} was trained for {num_classes + 3} classes, the '
                           f'config has {num_classes}', '--reset-classes')


def test_reset_classes_fine_tunes_from_another_class_count(toy_root, other_dataset_checkpoint):
    path, num_classes = other_dataset_checkpoint
    proc = _train(str(toy_root), f'load_from={path}', '--reset-classes')
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert (f'--reset-classes: load_from={path} has {num_classes + 3} classes, the config '
            f'{num_classes}: re-initialised') in log
    assert 'size mismatch' not in log and f'Load checkpoint from {path}' in log


def test_test_py_refuses_another_class_count(toy_root, other_dataset_checkpoint):
    path, num_classes = other_dataset_checkpoint
    annotations = f'{toy_root}/annotations/'
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CONFIG, path, '--work-dir', str(toy_root / '..' / 'wt'),
         '--cfg-options', f'test_dataloader.dataset.data_root={toy_root}/',
         f'test_evaluator.0.ann_file={annotations}panoptic_val.json',
         f'test_evaluator.0.seg_prefix={annotations}panoptic_val/',
         f'test_evaluator.1.ann_file={annotations}instances_val.json'],
        cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'test.py: error: load_from={path} was trained for {num_classes + 3} classes')
