"""Loading COCO panoptic annotations without panopticapi.

mmdet's ``LoadPanopticAnnotations`` imports panopticapi (not on PyPI) in its
constructor, only for ``rgb2id``. :class:`LoadCocoPanopticAnnotations` is a
drop-in replacement with the same arguments and outputs, and errors that name
the offending file.
"""
from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

import numpy as np  # noqa: E402
from mmdet.datasets.transforms import LoadAnnotations  # noqa: E402
from mmdet.structures.mask import BitmapMasks  # noqa: E402

from m2f_mm.models.targets import IGNORE_INDEX  # noqa: E402
from m2f_mm.registry import TRANSFORMS  # noqa: E402
from .panoptic_png import PanopticFormatError, read_panoptic_png  # noqa: E402

__all__ = ['LoadCocoPanopticAnnotations']


@TRANSFORMS.register_module()
class LoadCocoPanopticAnnotations(LoadAnnotations):
    """Load boxes, labels, thing masks and the semantic map of a COCO panoptic image.

    Reads what mmdet's ``CocoPanopticDataset`` puts in ``results``:
    ``instances`` (``bbox``, ``bbox_label``, ``ignore_flag``), ``segments_info``
    (``id``, contiguous ``category``, ``is_thing``) and ``seg_map_path``.
    That dataset drops crowd segments from ``instances`` and marks them
    ``is_thing=False``, so, as in mmdet, crowd regions get no mask and no box
    but keep their label in ``gt_seg_map``.

    Adds, with N the number of instances and H x W the PNG size:

    - ``gt_bboxes``: HorizontalBoxes (N, 4), x1 y1 x2 y2 (``with_bbox``);
    - ``gt_ignore_flags``: (N,) bool (``with_bbox``);
    - ``gt_bboxes_labels``: (N,) int64 (``with_label``);
    - ``gt_masks``: BitmapMasks (N, H, W), one per segment with ``is_thing``,
      in ``segments_info`` order (``with_mask``);
    - ``gt_seg_map``: (H, W) int32, each segment's ``category``, ``IGNORE_INDEX`` on VOID
      and on pixels of unlisted ids (``with_seg``).

    Masks and the map are skipped when ``seg_map_path`` is None (inference
    without ground truth).

    Args:
        with_bbox: Load ``gt_bboxes`` and ``gt_ignore_flags``.
        with_label: Load ``gt_bboxes_labels``.
        with_mask: Load ``gt_masks``.
        with_seg: Load ``gt_seg_map``.
        box_type: mmdet box type of ``gt_bboxes``.
        imdecode_backend: mmcv decoding backend of the PNG.
        backend_args: mmengine file backend arguments.

    Raises:
        PanopticFormatError: (from :meth:`transform`) the PNG is missing or
            undecodable, its size differs from ``ori_shape``, a listed segment
            id does not occur in it, or the thing segments and the instances
            differ in number. The message names the PNG.
    """

    def __init__(self, with_bbox: bool = True, with_label: bool = True,
                 with_mask: bool = True, with_seg: bool = True, box_type: str = 'hbox',
                 imdecode_backend: str = 'cv2', backend_args: dict = None) -> None:
        super().__init__(with_bbox=with_bbox, with_label=with_label, with_mask=with_mask,
                         with_seg=with_seg, with_keypoints=False, box_type=box_type,
                         imdecode_backend=imdecode_backend, backend_args=backend_args)

    def transform(self, results: dict) -> dict:
        """Add the annotations listed in the class docstring to ``results``.

        Args:
            results: Data info from ``CocoPanopticDataset``, after image loading.

        Returns:
            ``results``, updated in place.
        """
        if self.with_bbox:
            self._load_bboxes(results)
        if self.with_label:
            self._load_labels(results)
        if (self.with_mask or self.with_seg) and results.get('seg_map_path') is not None:
            self._load_masks_and_seg_map(results)
        return results

    def _load_masks_and_seg_map(self, results: dict) -> None:
        """Decode the PNG into thing masks and a semantic label map."""
        path = results['seg_map_path']
        ids = read_panoptic_png(path, self.backend_args, self.imdecode_backend)
        if 'ori_shape' in results and tuple(results['ori_shape']) != ids.shape:
            raise PanopticFormatError(f'{path}: PNG is {ids.shape}, '
                                      f'the image is {tuple(results["ori_shape"])}')
        seg_map = np.full(ids.shape, IGNORE_INDEX, dtype=np.int32)
        thing_masks = []
        for segment in results['segments_info']:
            mask = ids == segment['id']
            if not mask.any():
                raise PanopticFormatError(f'{path}: segment id {segment["id"]} is in '
                                          'segments_info but not in the PNG')
            seg_map[mask] = segment['category']
            if segment['is_thing']:
                thing_masks.append(mask.astype(np.uint8))
        # Masks pair with boxes by position; a count mismatch would misalign them silently.
        if 'instances' in results and len(thing_masks) != len(results['instances']):
            raise PanopticFormatError(
                f'{path}: {len(thing_masks)} thing segments in segments_info but '
                f'{len(results["instances"])} instances')
        if self.with_mask:
            results['gt_masks'] = BitmapMasks(thing_masks, *ids.shape)
        if self.with_seg:
            results['gt_seg_map'] = seg_map
