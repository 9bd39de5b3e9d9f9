"""The COCO panoptic PNG format: segment ids encoded as RGB, and reading them.

A COCO panoptic annotation is a PNG whose pixels encode a segment id as
``id = R + 256 * G + 256**2 * B`` (0 is VOID, unlabelled), plus a
``segments_info`` list in the JSON giving each id its ``category_id`` (and,
for ground truth, ``iscrowd``). panopticapi's ``utils.py`` holds the same
encoding; this module replaces it for the loader, the metric and the toy data.

Shape letters: H x W image size.
"""
from typing import Optional

import mmcv
import numpy as np
from mmengine import fileio

from m2f_mm.utils.errors import DataError

__all__ = ['VOID', 'ID_LIMIT', 'PanopticFormatError', 'rgb2id', 'id2rgb', 'read_panoptic_png',
           'check_id_range']

VOID = 0
# Ids are 24-bit (three 8-bit channels), so gt_id * 2**24 + pred_id encodes a pair uniquely.
ID_LIMIT = 256 ** 3


class PanopticFormatError(DataError):
    """A panoptic PNG or its ``segments_info`` is missing, unreadable or inconsistent."""


def rgb2id(png: np.ndarray) -> np.ndarray:
    """Decode segment ids from an RGB panoptic PNG.

    Args:
        png: (H, W, 3) uint8 array in RGB order.

    Returns:
        (H, W) int32 segment ids, ``R + 256 * G + 256**2 * B``.
    """
    if png.ndim != 3 or png.shape[-1] != 3 or png.dtype != np.uint8:
        raise PanopticFormatError(
            f'rgb2id expects an (H, W, 3) uint8 RGB array, got {png.shape} {png.dtype}')
    rgb = png.astype(np.int32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """Encode segment ids as an RGB panoptic PNG (the inverse of :func:`rgb2id`).

    Args:
        ids: (H, W) integer segment ids in ``[0, 256**3)``.

    Returns:
        (H, W, 3) uint8 array in RGB order.
    """
    check_id_range(ids, 'id2rgb input')
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // (256 * 256)], axis=-1).astype(np.uint8)


def read_panoptic_png(path: str, backend_args: Optional[dict] = None,
                      imdecode_backend: str = 'cv2') -> np.ndarray:
    """Read a panoptic PNG and decode its segment ids.

    Args:
        path: File path or URI of the PNG.
        backend_args: mmengine file backend arguments.
        imdecode_backend: mmcv decoding backend (``'cv2'``, ``'pillow'``).

    Returns:
        (H, W) int32 segment ids.

    Raises:
        PanopticFormatError: The file is missing or cannot be decoded.
    """
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise PanopticFormatError(f'panoptic PNG not found: {path}') from None
    try:
        png = mmcv.imfrombytes(data, flag='color', channel_order='rgb', backend=imdecode_backend)
    # Each decoder fails its own way (cv2.error, OSError, SyntaxError, ...).
    except Exception as err:
        raise PanopticFormatError(f'cannot decode panoptic PNG {path}: {err}') from None
    if png is None:
        raise PanopticFormatError(f'cannot decode panoptic PNG {path}')
    return rgb2id(png)


def check_id_range(ids: np.ndarray, what: str) -> None:
    """Raise unless every id fits the 24-bit RGB encoding."""
    if ids.size and (ids.min() < 0 or ids.max() >= ID_LIMIT):
        raise PanopticFormatError(f'{what}: segment ids must lie in [0, {ID_LIMIT}), '
                                  f'got [{ids.min()}, {ids.max()}]')
