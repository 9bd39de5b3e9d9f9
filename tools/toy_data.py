"""Deterministic toy segmentation data for the CPU quickstart (a tool, not part of
the plugin: tools/generate_toy_data.py is its command line).

Writes one set of synthetic images in the real on-disk formats that the stock
mmdet and mmseg loaders read: COCO panoptic, COCO instance and ADE20K-style
semantic. The data is easy on purpose, so that a tiny randomly initialised
model learns it in minutes on a CPU: every class has its own colour and
texture, and each thing class also its own shape. It is still real data:
objects overlap (the one drawn later wins), some are only a few pixels wide,
some images hold a crowd region (a cluster of small things of one class,
annotated as one ``iscrowd=1`` segment) and some leave thin void bands between
regions, as COCO does.

Classes (semantic label = position + 1 in the ADE label maps):

============  ===========  =====  ===========================================
name          category id  thing  appearance
============  ===========  =====  ===========================================
``circle``    1            yes    red, bright dots
``square``    2            yes    green, checkerboard
``triangle``  3            yes    purple, diagonal stripes
``sky``       10           no     light blue, brightening towards the horizon
``ground``    11           no     brown, speckle noise
============  ===========  =====  ===========================================

The category ids are not contiguous, as in COCO, so that loaders have to map
them to labels. Sky fills the image above a random wavy horizon and ground
fills it below.

Layout written by :func:`generate_toy_dataset` under ``out_dir``::

    toy_meta.json                           parameters, status and metainfo
    coco/train/toy_train_000000.jpg ...     images (val: coco/val/toy_val_*.jpg)
    coco/annotations/instances_train.json   things only, RLE masks, crowds
    coco/annotations/instances_val.json
    coco/annotations/panoptic_train.json    every segment, COCO panoptic
    coco/annotations/panoptic_val.json
    coco/annotations/panoptic_train/toy_train_000000.png ...
    coco/annotations/panoptic_val/toy_val_000000.png ...
    ade/images/training/toy_train_000000.jpg ...    the same image files
    ade/images/validation/toy_val_000000.jpg ...
    ade/annotations/training/toy_train_000000.png ...
    ade/annotations/validation/toy_val_000000.png ...

Panoptic PNGs are RGB with segment id = R + 256 G + 256^2 B and 0 = void.
ADE label maps are single-channel uint8 with 0 = other/ignore (void and crowd
pixels) and classes 1..5, so ``reduce_zero_label=True`` gives labels 0..4 and
255. Use mmseg's ``BaseSegDataset`` with ``img_suffix='.jpg'`` and
``reduce_zero_label=True``: ``ADE20KDataset`` itself refuses classes that are
not among ADE20K's 150. Train image ids are 1, 2, ...; val ids start at
1000001 so that the two splits never share one.

Images are JPEG, like COCO's and ADE20K's, so that stock defaults
(``ADE20KDataset``'s ``.jpg`` suffix, mmdet's ``.jpg`` -> ``.png`` segment map
naming) apply unchanged. They are saved at quality 95 without chroma
subsampling, so that objects a few pixels wide keep their colour. The encoder
is deterministic: the same seed gives byte-identical files on one install.

Each image draws from its own random stream, seeded by (seed, split, index),
so an image does not change when the number of images does.
"""
import io
import json
import os
import os.path as osp
import shutil
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from m2f_mm.datasets.panoptic_png import id2rgb

__all__ = ['toy_metainfo', 'toy_dataset_paths', 'find_toy_dataset', 'generate_toy_dataset']


@dataclass(frozen=True)
class _ToyClass:
    name: str
    category_id: int
    isthing: bool
    color: Tuple[int, int, int]


_CLASSES = (
    _ToyClass('circle', 1, True, (220, 50, 50)),
    _ToyClass('square', 2, True, (50, 185, 70)),
    _ToyClass('triangle', 3, True, (150, 70, 215)),
    _ToyClass('sky', 10, False, (140, 190, 245)),
    _ToyClass('ground', 11, False, (135, 95, 55)),
)
_THINGS = tuple(i for i, c in enumerate(_CLASSES) if c.isthing)
_SKY, _GROUND = (i for i, c in enumerate(_CLASSES) if not c.isthing)

# Bumped whenever the generated content changes, so stale data is regenerated.
_FORMAT_VERSION = 1
# Written into toy_meta.json; kept from the module's first home so that existing
# datasets stay recognised.
_GENERATOR = 'm2f_mm.datasets.toy_data'
# (COCO split, ADE split, image-id offset); the offset also keys the split's
# random streams.
_SPLITS = (('train', 'training', 0), ('val', 'validation', 1_000_000))
# Segments left with fewer visible pixels (a thing almost hidden by later
# ones) become void rather than a label nobody could learn.
_MIN_AREA = 4
_JPEG_OPTIONS = dict(format='JPEG', quality=95, subsampling=0)


def toy_metainfo(task: str = 'panoptic') -> dict:
    """Class metadata of the toy data, in the form OpenMMLab datasets take.

    Args:
        task: ``'panoptic'`` (mmdet ``CocoPanopticDataset``: all classes,
            things first, with ``thing_classes`` and ``stuff_classes``),
            ``'instance'`` (mmdet ``CocoDataset``: the things only) or
            ``'semantic'`` (mmseg: all classes; label k is ``classes[k]``
            after ``reduce_zero_label``).

    Returns:
        dict with ``classes`` and ``palette`` (one RGB tuple per class), and
        for ``'panoptic'`` also ``thing_classes`` and ``stuff_classes``.

    Raises:
        ValueError: For an unknown ``task``.
    """
    things = [_CLASSES[i] for i in _THINGS]
    if task == 'instance':
        return dict(classes=tuple(c.name for c in things), palette=[c.color for c in things])
    meta = dict(classes=tuple(c.name for c in _CLASSES), palette=[c.color for c in _CLASSES])
    if task == 'semantic':
        return meta
    if task == 'panoptic':
        return dict(meta, thing_classes=tuple(c.name for c in things),
                    stuff_classes=tuple(c.name for c in _CLASSES if not c.isthing))
    raise ValueError(f"task must be 'panoptic', 'instance' or 'semantic', not {task!r}")


def toy_dataset_paths(out_dir: str) -> Dict[str, str]:
    """Absolute paths of everything :func:`generate_toy_dataset` writes.

    Args:
        out_dir: The dataset root.

    Returns:
        dict with ``root``, ``meta`` (``toy_meta.json``), ``coco_root``,
        ``ade_root`` and, for each split ``s`` in ``train`` / ``val``:
        ``coco_img_s`` (image folder), ``instances_s`` and ``panoptic_s``
        (JSON files), ``panoptic_seg_s`` (panoptic PNG folder), ``ade_img_s``
        and ``ade_ann_s`` (ADE image and label-map folders).
    """
    root = osp.abspath(out_dir)
    coco, ade = osp.join(root, 'coco'), osp.join(root, 'ade')
    paths = dict(root=root, meta=osp.join(root, 'toy_meta.json'), coco_root=coco, ade_root=ade)
    for split, ade_split, _ in _SPLITS:
        paths[f'coco_img_{split}'] = osp.join(coco, split)
        paths[f'instances_{split}'] = osp.join(coco, 'annotations', f'instances_{split}.json')
        paths[f'panoptic_{split}'] = osp.join(coco, 'annotations', f'panoptic_{split}.json')
        paths[f'panoptic_seg_{split}'] = osp.join(coco, 'annotations', f'panoptic_{split}')
        paths[f'ade_img_{split}'] = osp.join(ade, 'images', ade_split)
        paths[f'ade_ann_{split}'] = osp.join(ade, 'annotations', ade_split)
    return paths


def _params(num_train: int, num_val: int, image_size: Tuple[int, int], seed: int) -> dict:
    return dict(num_train=int(num_train), num_val=int(num_val),
                image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed))


def _read_meta(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def find_toy_dataset(out_dir: str, num_train: int = 200, num_val: int = 40,
                     image_size: Tuple[int, int] = (128, 128),
                     seed: int = 0) -> Optional[Dict[str, str]]:
    """Find a complete toy dataset generated with exactly these parameters.

    Args:
        out_dir: The dataset root.
        num_train: Number of training images.
        num_val: Number of validation images.
        image_size: ``(height, width)``.
        seed: Random seed.

    Returns:
        :func:`toy_dataset_paths` of ``out_dir`` when its ``toy_meta.json``
        records a finished run of this generator version with the same
        parameters and every path exists; None otherwise.
    """
    paths = toy_dataset_paths(out_dir)
    meta = _read_meta(paths['meta'])
    if (meta is None or meta.get('generator') != _GENERATOR
            or meta.get('format_version') != _FORMAT_VERSION
            or meta.get('status') != 'complete'
            or meta.get('params') != _params(num_train, num_val, image_size, seed)):
        return None
    return paths if all(osp.exists(p) for p in paths.values()) else None


def _appearance(cls: int, rng: np.random.Generator, ys: np.ndarray,
                xs: np.ndarray) -> np.ndarray:
    """RGB float image of class ``cls`` over the whole grid, before image noise.

    Colour separates the classes on its own; the texture gives a second cue. A
    random texture phase and colour jitter per object keep instances of one
    class from being pixel-identical.
    """
    height, width = ys.shape[0], xs.shape[1]
    color = np.asarray(_CLASSES[cls].color, np.float64) + rng.uniform(-15, 15, 3)
    name = _CLASSES[cls].name
    y, x = ys.astype(np.int64) + rng.integers(4), xs.astype(np.int64) + rng.integers(4)
    if name == 'circle':  # 2x2 bright dots every 4 pixels
        shade = np.where((x % 4 // 2 == 1) & (y % 4 // 2 == 1), 45.0, -10.0)
    elif name == 'square':  # 2-pixel checkerboard
        shade = np.where((x // 2 + y // 2) % 2 == 0, 25.0, -25.0)
    elif name == 'triangle':  # diagonal stripes
        shade = np.where((x + y) // 2 % 2 == 0, 30.0, -30.0)
    elif name == 'sky':  # smooth, brighter towards the horizon
        shade = np.broadcast_to(40.0 * ys / height - 20.0, (height, width))
    else:  # ground: coarse per-pixel speckle
        shade = rng.normal(0.0, 22.0, (height, width))
    return color + shade[..., None]


def _shape_mask(cls: int, centre: np.ndarray, size: float, angle: float, ys: np.ndarray,
                xs: np.ndarray) -> np.ndarray:
    """Pixels whose centres fall inside the class's shape (all shapes are convex).

    Args:
        cls: A thing class index; its name is the shape.
        centre: ``(x, y)`` in pixels.
        size: Diameter of a circle, side of a square, about the side of a
            triangle.
        angle: Rotation of a square or triangle in radians.
        ys: ``(H, 1)`` pixel-centre rows.
        xs: ``(1, W)`` pixel-centre columns.
    """
    cx, cy = centre
    if _CLASSES[cls].name == 'circle':
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= (size / 2) ** 2
    corners, radius = (4, size / np.sqrt(2)) if _CLASSES[cls].name == 'square' else (3, size * 0.65)
    turns = angle + 2 * np.pi * np.arange(corners + 1) / corners
    vx, vy = cx + radius * np.cos(turns), cy + radius * np.sin(turns)
    inside = np.ones((ys.shape[0], xs.shape[1]), bool)
    # Corners run counter-clockwise in (x, y), so the inside is left of every edge.
    for k in range(corners):
        inside &= (vx[k + 1] - vx[k]) * (ys - vy[k]) - (vy[k + 1] - vy[k]) * (xs - vx[k]) >= 0
    return inside


def _ring(mask: np.ndarray) -> np.ndarray:
    """The 4-connected one-pixel outline just outside ``mask``."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown & ~mask


def _render(rng: np.random.Generator, height: int,
            width: int) -> Tuple[np.ndarray, np.ndarray, List[Tuple[int, int, bool]]]:
    """Draw one image and its panoptic segmentation.

    Returns:
        ``(image, ids, segments)``: the ``(H, W, 3)`` uint8 RGB image, the
        ``(H, W)`` int64 panoptic segment ids (0 = void) and, per segment,
        ``(segment id, class index, iscrowd)``.
    """
    ys = np.arange(height, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float64)[None, :] + 0.5
    short = min(height, width)
    # (class, iscrowd) per drawn segment; the canvas holds 1 + an index into
    # it (0 = void) until segment ids are drawn at the end.
    drawn = [(_SKY, False), (_GROUND, False)]

    level, swing = rng.uniform(0.3, 0.6) * height, rng.uniform(0.02, 0.1) * height
    wavelength, phase = rng.uniform(0.5, 1.5) * width, rng.uniform(0, 2 * np.pi)
    horizon = level + swing * np.sin(2 * np.pi * xs / wavelength + phase)
    sky = np.broadcast_to(ys < horizon, (height, width))
    image = np.where(sky[..., None], _appearance(_SKY, rng, ys, xs),
                     _appearance(_GROUND, rng, ys, xs))
    canvas = np.where(sky, 1, 2)
    if rng.random() < 0.5:
        canvas[np.broadcast_to(np.abs(ys - horizon) < rng.uniform(0.5, 1.0), canvas.shape)] = 0

    def paint(cls: int, mask: np.ndarray, is_crowd: bool) -> None:
        image[mask] = _appearance(cls, rng, ys, xs)[mask]
        drawn.append((cls, is_crowd))
        canvas[mask] = len(drawn)

    if rng.random() < 0.3:
        cls = int(rng.choice(_THINGS))
        centre, spread = rng.uniform(0, [width, height]), 0.12 * short
        members = [_shape_mask(cls, centre + rng.uniform(-spread, spread, 2),
                               rng.uniform(3, max(4.0, 0.1 * short)), rng.uniform(0, 2 * np.pi),
                               ys, xs) for _ in range(rng.integers(5, 10))]
        paint(cls, np.logical_or.reduce(members), True)

    previous = None
    for _ in range(rng.integers(1, 6)):
        cls = int(rng.choice(_THINGS))
        size = rng.uniform(3, 6) if rng.random() < 0.25 else rng.uniform(0.15, 0.45) * short
        if previous is not None and rng.random() < 0.35:
            # Closer than the sum of the two half sizes, so the shapes overlap.
            direction = rng.uniform(0, 2 * np.pi)
            reach = rng.uniform(0.2, 0.6) * (previous[1] + size) / 2
            centre = previous[0] + reach * np.array([np.cos(direction), np.sin(direction)])
        else:
            centre = rng.uniform(0, [width, height])
        mask = _shape_mask(cls, centre, size, rng.uniform(0, 2 * np.pi), ys, xs)
        if rng.random() < 0.3:
            canvas[_ring(mask)] = 0
        paint(cls, mask, False)
        previous = (centre, size)

    image = image * rng.uniform(0.9, 1.1) + rng.normal(0.0, 4.0, image.shape)
    ids = np.zeros((height, width), np.int64)
    segments = []
    # Random ids in the whole 24-bit range, as in COCO, use all three channels.
    segment_ids = rng.choice(256 ** 3 - 1, size=len(drawn), replace=False) + 1
    for k, ((cls, is_crowd), seg_id) in enumerate(zip(drawn, segment_ids)):
        mask = canvas == k + 1
        if mask.sum() >= _MIN_AREA:
            ids[mask] = seg_id
            segments.append((int(seg_id), cls, is_crowd))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), ids, segments


def _bbox(mask: np.ndarray) -> List[int]:
    rows, cols = np.nonzero(mask)
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
            int(rows.max() - rows.min() + 1)]


def _save_png(array: np.ndarray, path: str) -> None:
    Image.fromarray(array).save(path, format='PNG')


def _write_split(paths: Dict[str, str], split: str, id_offset: int, num_images: int,
                 image_size: Tuple[int, int], seed: int,
                 log: Optional[Callable[[str], None]]) -> None:
    """Render one split and write its images, label maps and JSON files."""
    height, width = image_size
    images, panoptic_anns, instance_anns = [], [], []
    for index in range(num_images):
        rng = np.random.default_rng([seed, id_offset, index])
        image, ids, segments = _render(rng, height, width)
        stem, image_id = f'toy_{split}_{index:06d}', id_offset + index + 1
        images.append(dict(id=image_id, file_name=f'{stem}.jpg', height=height, width=width))

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, **_JPEG_OPTIONS)
        for folder in (paths[f'coco_img_{split}'], paths[f'ade_img_{split}']):
            with open(osp.join(folder, f'{stem}.jpg'), 'wb') as f:
                f.write(buffer.getvalue())
        _save_png(id2rgb(ids),
                  osp.join(paths[f'panoptic_seg_{split}'], f'{stem}.png'))

        semantic = np.zeros((height, width), np.uint8)
        segments_info = []
        for seg_id, cls, is_crowd in segments:
            mask = ids == seg_id
            segment = dict(id=seg_id, category_id=_CLASSES[cls].category_id,
                           iscrowd=int(is_crowd), bbox=_bbox(mask), area=int(mask.sum()))
            segments_info.append(segment)
            if not is_crowd:
                semantic[mask] = cls + 1
            if _CLASSES[cls].isthing:
                rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
                rle['counts'] = rle['counts'].decode('ascii')
                instance_anns.append(dict(
                    segment, id=len(instance_anns) + 1, image_id=image_id, segmentation=rle))
        panoptic_anns.append(dict(image_id=image_id, file_name=f'{stem}.png',
                                  segments_info=segments_info))
        _save_png(semantic, osp.join(paths[f'ade_ann_{split}'], f'{stem}.png'))
        if log is not None and ((index + 1) % 50 == 0 or index + 1 == num_images):
            log(f'{split}: {index + 1}/{num_images} images')

    info = dict(description=f'm2f_mm toy data ({split})', version=str(_FORMAT_VERSION))
    categories = [dict(id=c.category_id, name=c.name,
                       supercategory='shape' if c.isthing else 'background',
                       isthing=int(c.isthing), color=list(c.color)) for c in _CLASSES]
    _dump_json(dict(info=info, images=images, annotations=panoptic_anns, categories=categories),
               paths[f'panoptic_{split}'])
    _dump_json(dict(info=info, images=images, annotations=instance_anns,
                    categories=[dict(id=c['id'], name=c['name'], supercategory=c['supercategory'])
                                for c in categories if c['isthing']]),
               paths[f'instances_{split}'])


def _dump_json(obj: dict, path: str) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f)


def generate_toy_dataset(out_dir: str, num_train: int = 200, num_val: int = 40,
                         image_size: Tuple[int, int] = (128, 128), seed: int = 0,
                         log: Optional[Callable[[str], None]] = None) -> Dict[str, str]:
    """Generate the toy dataset under ``out_dir`` (layout in the module docstring).

    Always renders afresh; call :func:`find_toy_dataset` first to reuse an
    up-to-date one. Output of an earlier run of this generator (recognised by
    its ``toy_meta.json``) is replaced, so no stale image is left for a loader
    that lists folders. ``toy_meta.json`` is written with status
    ``'incomplete'`` first and ``'complete'`` last, so an interrupted run is
    never taken as finished.

    Args:
        out_dir: Dataset root; created when missing.
        num_train: Number of training images.
        num_val: Number of validation images.
        image_size: ``(height, width)`` of every image.
        seed: Non-negative random seed; the same seed gives byte-identical files.
        log: Called with a progress line every 50 images of a split.

    Returns:
        :func:`toy_dataset_paths` of ``out_dir``.

    Raises:
        FileExistsError: When ``out_dir`` already holds ``coco/`` or ``ade/``
            that this generator did not write.
    """
    paths = toy_dataset_paths(out_dir)
    meta = _read_meta(paths['meta'])
    if meta is None or meta.get('generator') != _GENERATOR:
        foreign = [p for p in (paths['coco_root'], paths['ade_root']) if osp.exists(p)]
        if foreign:
            raise FileExistsError(f'{" and ".join(foreign)} already exist(s) but no toy_meta.json '
                                  f'says {_GENERATOR} wrote it; choose another output folder')
    for root in (paths['coco_root'], paths['ade_root']):
        shutil.rmtree(root, ignore_errors=True)
    for key, path in paths.items():
        if key.startswith(('coco_img_', 'panoptic_seg_', 'ade_img_', 'ade_ann_')):
            os.makedirs(path)

    meta = dict(generator=_GENERATOR, format_version=_FORMAT_VERSION, status='incomplete',
                params=_params(num_train, num_val, image_size, seed),
                metainfo=toy_metainfo('panoptic'),
                categories=[dict(name=c.name, id=c.category_id, isthing=c.isthing,
                                 semantic_label=i + 1) for i, c in enumerate(_CLASSES)])
    _dump_json(meta, paths['meta'])
    for (split, _, id_offset), num_images in zip(_SPLITS, (num_train, num_val)):
        _write_split(paths, split, id_offset, num_images, tuple(image_size), seed, log)
    _dump_json(dict(meta, status='complete'), paths['meta'])
    return paths
