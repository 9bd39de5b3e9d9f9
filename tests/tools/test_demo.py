"""tools/demo.py draws a model's predictions on images and videos (issue 13).

Fast: untrained toy checkpoints (``save_untrained_checkpoint``), no training. An untrained
panoptic model scores no mask above the default ``object_mask_threshold`` of 0.8, so the
panoptic runs lower it with ``--cfg-options``; its segments are then speckled but spatially
varied, which is what the drawing checks need. The runs on the COCO sample and the error
messages go through a subprocess as a user runs the tool; the other runs call
``demo.main`` in this process, which saves an interpreter start and the imports per run.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import demo
import numpy as np
import pytest
from mmengine.config import Config
from quickstart import save_untrained_checkpoint
from tests._tool_errors import assert_one_line_error

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The in-repo copy of ../shared/data/coco_panoptic_sample (tests/data/README.md).
COCO_IMAGES = osp.join(REPO, 'tests', 'data', 'coco_panoptic_sample', 'images')
PANOPTIC = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py'
SEMANTIC = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py'
NUM_CLASSES = 5  # the toy classes; mmdet's panoptic void label
INSTANCE_OFFSET = 1000  # mmdet's panoptic encoding
LOW_THRESHOLD = 'model.test_cfg.object_mask_threshold=0.0'


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpt')
    return dict(panoptic=save_untrained_checkpoint(PANOPTIC, str(root / 'panoptic.pth')),
                semantic=save_untrained_checkpoint(SEMANTIC, str(root / 'semantic.pth')))


@pytest.fixture(scope='module')
def small_images(tmp_path_factory):
    """Three small images: a (107x160) and c (100x160) are padded to 128x160 (the toy
    preprocessor's pad_size_divisor is 32), b (90x160) to 96x160."""
    root = tmp_path_factory.mktemp('small')
    a = cv2.imread(osp.join(COCO_IMAGES, '000000142238.jpg'))
    b = cv2.imread(osp.join(COCO_IMAGES, '000000439180.jpg'))
    cv2.imwrite(str(root / 'a.jpg'), cv2.resize(a, (160, 107), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(root / 'b.jpg'), cv2.resize(b, (160, 90), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(root / 'c.png'), cv2.resize(b[:, ::-1], (160, 100),
                                                interpolation=cv2.INTER_AREA))
    return root


@pytest.fixture(scope='module')
def medium_image(tmp_path_factory):
    """A 214x320 COCO image, where the label boxes mmdet draws cover little of it."""
    path = tmp_path_factory.mktemp('medium') / 'medium.jpg'
    image = cv2.imread(osp.join(COCO_IMAGES, '000000142238.jpg'))
    cv2.imwrite(str(path), cv2.resize(image, (320, 214), interpolation=cv2.INTER_AREA))
    return path


def _demo(*args):
    """tools/demo.py as a user runs it (for what it prints and its exit status)."""
    return subprocess.run([sys.executable, 'tools/demo.py', *map(str, args)], cwd=REPO,
                          capture_output=True, text=True)


def _demo_in_process(capsys, *args) -> str:
    """``demo.main`` in this process (no interpreter start and imports per run); its
    summary line."""
    capsys.readouterr()
    demo.main([str(a) for a in args])
    return capsys.readouterr().out.strip().splitlines()[-1]


def _forward_passes(summary: str) -> int:
    return int(re.search(r'(\d+) forward pass', summary).group(1))


def _palette_bgr(config):
    return np.array(Config.fromfile(osp.join(REPO, config)).metainfo['palette'])[:, ::-1]


def _check_drawn(image, drawn):
    """A readable PNG of the input's size that is not one colour."""
    assert drawn is not None
    assert drawn.shape == image.shape
    assert len(np.unique(drawn.reshape(-1, 3), axis=0)) > 100


def _edges(label_map, width=5):
    """Pixels within ``width // 2`` of a boundary between two values of ``label_map``
    (mmdet outlines each segment and the outline straddles the boundary)."""
    _, dense = np.unique(label_map, return_inverse=True)
    dense = dense.reshape(label_map.shape).astype(np.uint16)
    kernel = np.ones((width, width), np.uint8)
    return cv2.dilate(dense, kernel) != cv2.erode(dense, kernel)


def test_panoptic_on_the_coco_sample_images(checkpoints, tmp_path):
    """Non-empty PNGs for the two real COCO images, and the drawing follows the prediction:
    unchanged where nothing is predicted, tinted with the class colour where a segment is."""
    proc = _demo(COCO_IMAGES, PANOPTIC, checkpoints['panoptic'], '--out-dir', tmp_path,
                 '--save-pred', '--cfg-options', LOW_THRESHOLD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _forward_passes(proc.stdout) == 2
    palette = _palette_bgr(PANOPTIC)
    names = sorted(osp.splitext(n)[0] for n in os.listdir(COCO_IMAGES))
    assert len(names) == 2
    for name in names:
        image = cv2.imread(osp.join(COCO_IMAGES, name + '.jpg')).astype(int)
        drawn = cv2.imread(str(tmp_path / f'{name}.png'))
        _check_drawn(image, drawn)
        drawn = drawn.astype(int)
        pan = np.load(tmp_path / 'pred' / f'{name}.npz')['panoptic_seg']
        assert pan.shape == image.shape[:2]
        void = pan == NUM_CLASSES
        assert 0.02 < (~void).mean() < 0.98, 'the check needs both segments and void'
        away = ~_edges(pan)
        changed = np.abs(drawn - image).max(-1) > 2
        # Where nothing is predicted, the PNG is the input; where a segment is, it is not.
        assert changed[void & away].mean() < 0.002
        inside = ~void & away
        assert inside.sum() > 2000 and changed[inside].mean() > 0.99
        # ... and holds the input blended with the segment's class colour (opacity 0.8).
        # Not all of it: mmdet writes each segment's class name in a box.
        expected = 0.2 * image + 0.8 * palette[np.minimum(pan % INSTANCE_OFFSET,
                                                          NUM_CLASSES - 1)]
        assert (np.abs(drawn - expected).max(-1)[inside] <= 3).mean() > 0.6


def test_batches_predict_what_single_images_do(checkpoints, small_images, tmp_path, capsys):
    """--batch-size 2 on images of three sizes: a and c (different sizes, one padded size)
    share one forward pass, b goes alone; the predictions are those of --batch-size 1."""
    runs = {}
    for batch_size in (1, 2):
        out = tmp_path / f'bs{batch_size}'
        summary = _demo_in_process(capsys, small_images, PANOPTIC, checkpoints['panoptic'],
                                   '--out-dir', out, '--batch-size', batch_size, '--save-pred',
                                   '--cfg-options', LOW_THRESHOLD)
        runs[batch_size] = (out, _forward_passes(summary))
    assert runs[1][1] == 3 and runs[2][1] == 2
    for name in 'abc':
        single, batched = (np.load(runs[bs][0] / 'pred' / f'{name}.npz')['panoptic_seg']
                           for bs in (1, 2))
        image = cv2.imread(str(next(small_images.glob(f'{name}.*'))))
        assert single.shape == batched.shape == image.shape[:2]
        assert 0.02 < (single != NUM_CLASSES).mean() < 0.98
        assert (single == batched).mean() > 0.999, name
        pngs = [cv2.imread(str(runs[bs][0] / f'{name}.png')) for bs in (1, 2)]
        assert (pngs[0] == pngs[1]).all(-1).mean() > 0.99, name


def test_instance_task(checkpoints, medium_image, tmp_path, capsys):
    summary = _demo_in_process(capsys, medium_image, PANOPTIC, checkpoints['panoptic'],
                               '--out-dir', tmp_path, '--task', 'instance', '--score-thr', 0,
                               '--save-pred', '--cfg-options', 'model.test_cfg.max_per_image=3')
    assert '(instance;' in summary
    image = cv2.imread(str(medium_image)).astype(int)
    drawn = cv2.imread(str(tmp_path / 'medium.png'))
    _check_drawn(image, drawn)
    pred = np.load(tmp_path / 'pred' / 'medium.npz')
    masks = pred['masks'].astype(bool)
    assert 1 <= masks.shape[0] <= 3 and masks.shape[1:] == image.shape[:2]
    assert len(pred['labels']) == len(pred['scores']) == len(pred['bboxes']) == len(masks)
    # Drawn on the masks; elsewhere only the mask and box outlines and the label boxes.
    union = masks.any(0)
    outlines = _edges(union.astype(np.uint8))
    for x1, y1, x2, y2 in pred['bboxes'].round().astype(int):
        box = np.zeros(image.shape[:2], np.uint8)
        cv2.rectangle(box, (x1, y1), (x2, y2), 1, thickness=9)
        outlines |= box.astype(bool)
    changed = np.abs(drawn.astype(int) - image).max(-1) > 2
    assert 0.01 < union.mean() < 0.9
    assert changed[union & ~outlines].mean() > 0.99
    assert changed[~union & ~outlines].mean() < 0.03


def test_mmseg_semantic_model(checkpoints, small_images, tmp_path, capsys):
    """The mmseg toy model (stock EncoderDecoder) through mmseg's SegLocalVisualizer."""
    _demo_in_process(capsys, small_images / 'b.jpg', SEMANTIC, checkpoints['semantic'],
                     '--out-dir', tmp_path, '--save-pred', '--opacity', 0.5)
    image = cv2.imread(str(small_images / 'b.jpg')).astype(int)
    drawn = cv2.imread(str(tmp_path / 'b.png'))
    _check_drawn(image, drawn)
    sem = np.load(tmp_path / 'pred' / 'b.npz')['sem_seg']
    assert sem.shape == image.shape[:2] and 0 <= sem.min() and sem.max() < NUM_CLASSES
    # mmseg blends the class colour into every pixel (minus its label box, and rounding down).
    expected = 0.5 * image + 0.5 * _palette_bgr(SEMANTIC)[sem]
    assert (np.abs(drawn - expected).max(-1) <= 1.5).mean() > 0.9


def _write_video(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             frames[0].shape[1::-1])
    if not writer.isOpened():
        return False
    for frame in frames:
        writer.write(frame)
    writer.release()
    return True


def _read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while capture.isOpened():
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_video(checkpoints, tmp_path, capsys):
    image = cv2.resize(cv2.imread(osp.join(COCO_IMAGES, '000000142238.jpg')), (160, 112))
    frames = [np.roll(image, 8 * i, axis=1) for i in range(3)]
    video = tmp_path / 'clip.mp4'
    if not _write_video(video, frames) or len(_read_video(video)) != 3:
        pytest.skip('OpenCV here cannot write and read back an mp4v video')
    out = tmp_path / 'out'
    summary = _demo_in_process(capsys, video, PANOPTIC, checkpoints['panoptic'], '--out-dir', out,
                               '--task', 'semantic', '--batch-size', 2, '--save-pred')
    assert _forward_passes(summary) == 2  # frames 0 and 1 together, then frame 2
    drawn = _read_video(out / 'clip.mp4')
    assert len(drawn) == 3 and all(f.shape == image.shape for f in drawn)
    assert sorted(os.listdir(out / 'pred' / 'clip')) == ['000000.npz', '000001.npz',
                                                         '000002.npz']
    # Drawn: the frames are tinted, not copies of the input (mp4v is lossy, hence the margin).
    assert np.abs(drawn[0].astype(int) - _read_video(video)[0]).mean() > 20


def test_batches_group_items_of_one_padded_size():
    items = [('a', 128), ('b', 96), ('c', 128), ('d', 128), ('e', 96)]
    got = list(demo.batches(iter(items), key=lambda item: item[1], batch_size=2))
    assert got == [[('a', 128), ('c', 128)], [('b', 96), ('e', 96)], [('d', 128)]]
    # Many sizes: no more than max_pending items wait; none is lost or repeated.
    got = list(demo.batches(iter(range(10)), key=lambda i: i % 5, batch_size=4, max_pending=3))
    assert sorted(sum(got, [])) == list(range(10)) and all(len(b) <= 4 for b in got)


def test_output_names():
    assert demo.output_stems(['x/a.jpg', 'x/b.jpg']) == ['a', 'b']
    assert demo.output_stems(['x/a.jpg', 'x/a.png']) == ['a_jpg', 'a_png']


def _assert_one_line_error(proc, *fragments):
    assert_one_line_error(proc, 'demo.py: error: ', *fragments)


def test_missing_input(checkpoints, tmp_path):
    _assert_one_line_error(_demo(tmp_path / 'nowhere.jpg', PANOPTIC, checkpoints['panoptic'],
                                 '--out-dir', tmp_path / 'out'),
                           'input not found', str(tmp_path / 'nowhere.jpg'))


def test_folder_without_images(checkpoints, tmp_path):
    (tmp_path / 'notes.txt').write_text('no images here')
    _assert_one_line_error(_demo(tmp_path, PANOPTIC, checkpoints['panoptic'],
                                 '--out-dir', tmp_path / 'out'),
                           'no images in folder', str(tmp_path))


def test_task_the_model_does_not_have(checkpoints, small_images, tmp_path):
    _assert_one_line_error(_demo(small_images / 'b.jpg', SEMANTIC, checkpoints['semantic'],
                                 '--out-dir', tmp_path, '--task', 'panoptic'),
                           '--task panoptic', 'predicts only semantic', SEMANTIC)


def test_unreadable_image(checkpoints, tmp_path):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not a jpeg')
    _assert_one_line_error(_demo(bad, PANOPTIC, checkpoints['panoptic'],
                                 '--out-dir', tmp_path / 'out'),
                           'cannot read image', str(bad))


def test_task_the_mmdet_model_does_not_predict(checkpoints, small_images, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        demo.main([str(small_images / 'b.jpg'), PANOPTIC, checkpoints['panoptic'], '--out-dir',
                   str(tmp_path), '--task', 'instance', '--cfg-options',
                   'model.test_cfg.instance_on=False'])
    message = str(exit_info.value.code)
    assert message.startswith('demo.py: error: --task instance: ') and '\n' not in message
    assert 'predicts no pred_instances' in message
    assert 'model.test_cfg.instance_on=True' in message


@pytest.mark.parametrize('config, options, fragments', [
    (SEMANTIC, [], ['does not fit the model of', 'missing tensors']),
    (PANOPTIC, ['--cfg-options', 'model.panoptic_head.num_stuff_classes=3'],
     ['was trained for 5 classes, the config has 6']),
])
def test_checkpoint_that_does_not_fit(checkpoints, small_images, tmp_path, config, options,
                                      fragments):
    """The class-count check of tools/test.py, and no demo of a model left at random weights."""
    with pytest.raises(SystemExit) as exit_info:
        demo.main([str(small_images / 'b.jpg'), config, checkpoints['panoptic'], '--out-dir',
                   str(tmp_path), *options])
    message = str(exit_info.value.code)
    assert message.startswith(f'demo.py: error: checkpoint {checkpoints["panoptic"]}')
    assert '\n' not in message and '--reset-classes' not in message
    for fragment in fragments:
        assert fragment in message, message
