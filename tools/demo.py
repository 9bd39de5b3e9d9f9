"""Run a segmentation model on images or a video and draw its predictions.

    python tools/demo.py INPUT CONFIG CHECKPOINT --out-dir DIR [--task panoptic|instance|semantic]
                         [--device cpu|cuda] [--batch-size N] [--score-thr 0.3] [--opacity 0.8]
                         [--save-pred] [--cfg-options k=v ...]

INPUT is an image, a folder of images (not searched recursively) or a video. Each image gives
``DIR/<name>.png``; a video gives ``DIR/<name>.mp4`` with every frame drawn. The host library
draws: mmdet's ``DetLocalVisualizer`` for mmdet configs (``--task panoptic``, the default,
``instance`` or ``semantic``), mmseg's ``SegLocalVisualizer`` for mmseg configs (semantic
only), with the classes and palette of the checkpoint's or the config's dataset.

``--save-pred`` also writes the raw predictions, ``DIR/pred/<name>.npz`` (for a video
``DIR/pred/<name>/<frame>.npz``): ``sem_seg`` (H, W) class ids; ``panoptic_seg`` (H, W) in
mmdet's encoding (``label + instance * INSTANCE_OFFSET``, void = number of classes); or the
instances' ``masks`` (N, H, W), ``labels``, ``scores`` and ``bboxes`` (all, before
``--score-thr``).

A batch holds only images that the data preprocessor pads to one size: padding changes the
predictions of a smaller image (README, "Evaluation batch size"), so images of other sizes go
to other batches, and ``--batch-size N`` predicts what ``--batch-size 1`` does.
"""
import argparse
import itertools
import os
import os.path as osp
import sys
from collections import OrderedDict
from typing import Callable, Dict, Hashable, Iterator, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # this checkout's m2f_mm

TOOL = 'demo.py'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
TASKS = ('panoptic', 'instance', 'semantic')
# The data sample field each task draws, and the fusion head switch that turns it on.
PRED_FIELDS = dict(panoptic='pred_panoptic_seg', instance='pred_instances',
                   semantic='pred_sem_seg')
_INSTANCE_NUMBERS = itertools.count()  # names of the scope and visualizer instances


def fail(message: str) -> None:
    """Stop with one line on stderr and exit status 1."""
    sys.exit(f'{TOOL}: error: {message}')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=TOOL, description='Draw the predictions of a model on images or a video')
    parser.add_argument('input', help='an image, a folder of images or a video file')
    parser.add_argument('config', help='model config (mmdet or mmseg)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', required=True, help='where the drawn PNGs / video go')
    parser.add_argument('--task', choices=TASKS,
                        help='what to draw: panoptic (default for mmdet models), instance or '
                        'semantic (the only task of mmseg models)')
    parser.add_argument('--device', default='cpu', help='cpu (default), cuda or cuda:N')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw instances scoring above this (--task instance)')
    parser.add_argument('--opacity', type=float, default=0.8,
                        help='opacity of the drawn masks, 0 to 1')
    parser.add_argument('--save-pred', action='store_true',
                        help='also save the raw predictions as DIR/pred/<name>.npz')
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. '
                        'model.test_cfg.object_mask_threshold=0.5')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        fail(f'--batch-size must be at least 1, got {args.batch_size}')
    if not 0 <= args.opacity <= 1:
        fail(f'--opacity must be between 0 and 1, got {args.opacity}')
    if not 0 <= args.score_thr <= 1:
        fail(f'--score-thr must be between 0 and 1, got {args.score_thr}')
    return args


def collect_inputs(path: str) -> Tuple[str, List[str]]:
    """``('video', [path])`` or ``('images', paths)``; fails on a missing path or an
    imageless folder."""
    if osp.isdir(path):
        images = sorted(osp.join(path, name) for name in os.listdir(path)
                        if name.lower().endswith(IMAGE_EXTENSIONS)
                        and osp.isfile(osp.join(path, name)))
        if not images:
            fail(f'no images in folder {path} (looked for {", ".join(IMAGE_EXTENSIONS)})')
        return 'images', images
    if not osp.isfile(path):
        fail(f'input not found: {path}')
    if path.lower().endswith(VIDEO_EXTENSIONS):
        return 'video', [path]
    return 'images', [path]


def output_stems(paths: List[str]) -> List[str]:
    """Output names without extension: the input's base name, with its extension kept
    where two inputs share a base name (``a.jpg``, ``a.png`` -> ``a_jpg``, ``a_png``)."""
    stems = [osp.splitext(osp.basename(p))[0] for p in paths]
    shared = {s for s in stems if stems.count(s) > 1}
    return [s + '_' + osp.splitext(p)[1].lstrip('.') if s in shared else s
            for s, p in zip(stems, paths)]


def random_palette(num_classes: int) -> List[tuple]:
    import numpy as np
    rng = np.random.RandomState(42)
    return [tuple(int(c) for c in rng.randint(0, 256, 3)) for _ in range(num_classes)]


def dataset_meta(cfg, checkpoint: dict, num_classes: Optional[int]) -> dict:
    """Classes and palette: the checkpoint's dataset_meta, else the config's dataset
    metainfo, else the dataset class's METAINFO; a palette is made up if none is given."""
    meta = dict((checkpoint.get('meta') or {}).get('dataset_meta') or {})
    if not meta.get('classes'):
        dataloader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
        dataset = dataloader.get('dataset', {})
        while 'dataset' in dataset and 'metainfo' not in dataset:
            dataset = dataset['dataset']
        meta = dict(dataset.get('metainfo') or {})
        if not meta.get('classes') and dataset.get('type'):
            from mmengine.registry import DATASETS
            dataset_class = DATASETS.get(dataset['type'])
            meta = dict(getattr(dataset_class, 'METAINFO', {}) or {})
    classes = list(meta.get('classes') or [])
    if num_classes is not None and len(classes) != num_classes:
        print(f'{TOOL}: the dataset metainfo names {len(classes)} classes, the model has '
              f'{num_classes}: drawing them as "class 0" ...', file=sys.stderr)
        classes = [f'class {i}' for i in range(num_classes)]
        meta.pop('palette', None)
    meta['classes'] = classes
    palette = meta.get('palette')
    if not palette or len(palette) < len(classes):
        meta['palette'] = random_palette(len(classes))
    meta['palette'] = [tuple(int(c) for c in color) for color in meta['palette']]
    return meta


class Predictor:
    """The model of a config with a checkpoint, its inference pipeline and visualizer."""

    def __init__(self, cfg, config_path: str, checkpoint_path: str, device: str, task: str,
                 opacity: float, score_thr: float) -> None:
        import torch
        from mmengine.dataset import Compose
        from mmengine.registry import MODELS, VISUALIZERS, DefaultScope

        from m2f_mm.converters import load_trained_weights
        from m2f_mm.deploy import inference_pipeline

        self.host = cfg.default_scope
        self.task = task
        self.config_path = config_path
        self.score_thr = score_thr
        name = f'{TOOL}-{next(_INSTANCE_NUMBERS)}'
        self._scope = DefaultScope.get_instance(name, scope_name=self.host)
        self.model = MODELS.build(cfg.model)
        checkpoint = load_trained_weights(self.model, checkpoint_path, config_path)
        self.model.to(torch.device(device)).eval()
        self.pipeline = Compose(inference_pipeline(cfg))

        self.meta = dataset_meta(cfg, checkpoint, self._num_classes())
        vis_cfg = dict(cfg.get('visualizer') or dict(
            type='DetLocalVisualizer' if self.host == 'mmdet' else 'SegLocalVisualizer'))
        vis_cfg.update(name=name, vis_backends=None, save_dir=None)
        self.visualizer = VISUALIZERS.build(vis_cfg)
        self.visualizer.alpha = opacity
        if self.host == 'mmseg':
            self.visualizer.set_dataset_meta(self.meta['classes'], self.meta['palette'])
        else:
            self.visualizer.dataset_meta = self.meta
        self.forward_passes = 0

    def _num_classes(self) -> Optional[int]:
        for key, value in self.model.state_dict().items():
            if key.endswith('class_embed.weight'):
                return value.shape[0] - 1
        return None

    def prepare(self, image) -> dict:
        """The pipeline's output for one BGR image."""
        return self.pipeline(dict(img=image))

    def batch_key(self, data: dict) -> Hashable:
        """Images with equal keys are padded to the same size, alone or together."""
        height, width = data['inputs'].shape[-2:]
        preprocessor = self.model.data_preprocessor
        if self.host == 'mmdet':
            divisor = getattr(preprocessor, 'pad_size_divisor', 1) or 1
            return (-(-height // divisor) * divisor, -(-width // divisor) * divisor)
        test_cfg = getattr(preprocessor, 'test_cfg', None) or {}
        if test_cfg.get('size'):
            return tuple(test_cfg['size'])
        if test_cfg.get('size_divisor'):
            divisor = test_cfg['size_divisor']
            return (-(-height // divisor) * divisor, -(-width // divisor) * divisor)
        return (height, width)  # mmseg stacks test images only when they have one size

    def predict(self, batch: List[dict]) -> list:
        """Data samples with predictions at each image's original size, one forward."""
        import torch
        data = dict(inputs=[d['inputs'] for d in batch],
                    data_samples=[d['data_samples'] for d in batch])
        with torch.no_grad():
            samples = self.model.test_step(data)
        self.forward_passes += 1
        return samples

    def task_prediction(self, sample):
        """A data sample holding only the prediction that ``task`` draws."""
        field = PRED_FIELDS[self.task]
        if field not in sample:
            available = [t for t, f in PRED_FIELDS.items() if f in sample]
            hint = (f'set model.test_cfg.{self.task}_on=True with --cfg-options or '
                    if self.host == 'mmdet' else '')
            raise TaskError(f'--task {self.task}: the model of {self.config_path} predicts no '
                            f'{field} (it predicts {", ".join(available) or "nothing"}); '
                            f'{hint}choose --task {" or ".join(available) or "semantic"}')
        if self.host == 'mmdet':
            from mmdet.structures import DetDataSample
            only = DetDataSample(metainfo=sample.metainfo)
        else:
            from mmseg.structures import SegDataSample
            only = SegDataSample(metainfo=sample.metainfo)
        setattr(only, field, getattr(sample, field))
        return only

    def draw(self, name: str, image, sample):
        """The image (BGR) with ``sample``'s prediction drawn by the host's visualizer (BGR)."""
        kwargs = dict(pred_score_thr=self.score_thr) if self.host == 'mmdet' else {}
        self.visualizer.add_datasample(name, image[..., ::-1], sample, draw_gt=False,
                                       draw_pred=True, show=False, **kwargs)
        return self.visualizer.get_image()[..., ::-1]

    def raw_prediction(self, sample) -> Dict[str, 'object']:
        """The prediction of ``task`` as numpy arrays (see the module doc)."""
        import numpy as np
        field = getattr(sample, PRED_FIELDS[self.task])
        if self.task == 'instance':
            arrays = {}
            for key in ('masks', 'labels', 'scores', 'bboxes'):
                if key in field:
                    value = field.get(key)
                    if hasattr(value, 'to_ndarray'):  # BitmapMasks
                        value = value.to_ndarray()
                    arrays[key] = (value.cpu().numpy() if hasattr(value, 'cpu')
                                   else np.asarray(value))
            return arrays
        key = 'panoptic_seg' if self.task == 'panoptic' else 'sem_seg'
        data = field.sem_seg if 'sem_seg' in field else field.data
        return {key: data[0].cpu().numpy().astype(np.int32)}


class TaskError(Exception):
    """The model does not predict what ``--task`` asks for."""


def read_image(path: str):
    import mmcv
    try:
        image = mmcv.imread(path)
    except Exception as err:  # noqa: BLE001 (any decoder failure is the same user error)
        fail(f'cannot read image {path} ({err})')
    if image is None or image.size == 0:
        fail(f'cannot read image {path} (not an image, or corrupt)')
    return image


def read_video(path: str) -> Tuple[Iterator, float, int]:
    """Frames (BGR), frames per second and the announced frame count of a video."""
    import cv2
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        fail(f'cannot read video {path} (not a video, corrupt, or no codec for it)')
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def frames():
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield frame
        capture.release()
    return frames(), fps, count


def batches(items: Iterator, key: Callable, batch_size: int,
            max_pending: Optional[int] = None) -> Iterator[list]:
    """Group ``items`` into batches of up to ``batch_size`` items with one ``key``.

    Items wait for others of their key; when more than ``max_pending`` wait, the
    largest group goes as it is, so a folder of many sizes keeps little in memory.
    Items of one key keep their order.
    """
    max_pending = max_pending or 4 * batch_size
    groups: 'OrderedDict[Hashable, list]' = OrderedDict()
    pending = 0
    for item in items:
        group = groups.setdefault(key(item), [])
        group.append(item)
        pending += 1
        if len(group) == batch_size:
            pending -= len(group)
            yield groups.pop(key(item))
        elif pending > max_pending:
            largest = max(groups, key=lambda k: len(groups[k]))
            pending -= len(groups[largest])
            yield groups.pop(largest)
    for group in groups.values():
        yield group


def run(predictor: Predictor, items: Iterator[Tuple[str, 'object']], batch_size: int,
        write: Callable, progress=None) -> int:
    """Predict and draw ``(name, image)`` items; ``write(name, image, drawn, raw)``."""
    def prepared():
        for name, image in items:
            yield name, image, predictor.prepare(image)

    done = 0
    for batch in batches(prepared(), lambda item: predictor.batch_key(item[2]), batch_size):
        samples = predictor.predict([data for _, _, data in batch])
        for (name, image, _), sample in zip(batch, samples):
            only = predictor.task_prediction(sample)
            write(name, image, predictor.draw(name, image, only), predictor.raw_prediction(only))
            done += 1
            if progress is not None:
                progress.update()
    return done


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    kind, paths = collect_inputs(args.input)
    if not osp.isfile(args.checkpoint):
        fail(f'checkpoint file not found: {args.checkpoint}')
    if not osp.isfile(args.config):
        fail(f'config file not found: {args.config}')
    stems = output_stems(paths)
    suffix = '.png' if kind == 'images' else '.mp4'
    out_files = [osp.join(args.out_dir, stem + suffix) for stem in stems]
    for path, out_file in zip(paths, out_files):
        if osp.realpath(out_file) == osp.realpath(path):
            fail(f'--out-dir {args.out_dir} would overwrite the input {path}')
    if args.device.startswith('cuda'):
        import torch
        if not torch.cuda.is_available():
            fail(f'--device {args.device}: CUDA is not available here; use --device cpu')

    import cv2
    import mmcv
    import numpy as np
    from mmengine.utils import ProgressBar

    from m2f_mm.utils import exit_on_user_error, load_config

    with exit_on_user_error(TOOL):
        cfg = load_config(args.config, args.cfg_options)
    host = cfg.get('default_scope')
    if host not in ('mmdet', 'mmseg'):
        fail(f'{args.config}: default_scope is {host!r}; the demo runs mmdet and mmseg models')
    task = args.task or ('panoptic' if host == 'mmdet' else 'semantic')
    if host == 'mmseg' and task != 'semantic':
        fail(f'--task {task}: the mmseg model of {args.config} predicts only semantic '
             'segmentation; use --task semantic')
    # The first image (or the video) is read before the model is built: a bad input
    # stops at once.
    if kind == 'images':
        first = read_image(paths[0])
        items = ((path, first if i == 0 else read_image(path)) for i, path in enumerate(paths))
        count = len(paths)
    else:
        frames, fps, count = read_video(paths[0])
        items = enumerate(frames)

    with exit_on_user_error(TOOL):
        predictor = Predictor(cfg, args.config, args.checkpoint, args.device, task,
                              args.opacity, args.score_thr)

    os.makedirs(args.out_dir, exist_ok=True)
    pred_dir = osp.join(args.out_dir, 'pred')
    if args.save_pred:
        os.makedirs(pred_dir if kind == 'images' else osp.join(pred_dir, stems[0]),
                    exist_ok=True)
    out_of = dict(zip(paths, zip(out_files, stems)))
    writer = []

    def write_image(path, image, drawn, raw):
        out_file, stem = out_of[path]
        mmcv.imwrite(drawn, out_file)
        if args.save_pred:
            np.savez_compressed(osp.join(pred_dir, stem + '.npz'), **raw)

    def write_frame(index, image, drawn, raw):
        if not writer:
            height, width = drawn.shape[:2]
            writer.append(cv2.VideoWriter(out_files[0], cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                          (width, height)))
            if not writer[0].isOpened():
                fail(f'cannot write video {out_files[0]} (OpenCV has no mp4v encoder here)')
        writer[0].write(np.ascontiguousarray(drawn))
        if args.save_pred:
            np.savez_compressed(osp.join(pred_dir, stems[0], f'{index:06d}.npz'), **raw)

    progress = ProgressBar(count) if count > 1 else None
    try:
        done = run(predictor, items, args.batch_size,
                   write_image if kind == 'images' else write_frame, progress)
    except TaskError as err:
        fail(str(err))
    if writer:
        writer[0].release()
    if not done:
        fail(f'cannot read video {paths[0]}: no frame could be decoded')
    unit = 'image' if kind == 'images' else 'frame'
    where = args.out_dir if kind == 'images' else out_files[0]
    print(f'\n{TOOL}: drew {done} {unit}{"s" * (done != 1)} ({task}; '
          f'{predictor.forward_passes} forward pass{"es" * (predictor.forward_passes != 1)}, '
          f'batch size {args.batch_size}) -> {where}', flush=True)


if __name__ == '__main__':
    main()
