"""Adapter: the core head as the ``decode_head`` of mmseg's stock ``EncoderDecoder``,
and the test-time augmentation model that merges its scores.

Shape letters: B batch, Q queries, K classes, H x W network input size (the padded
batch, or one crop in sliding-window inference).
"""
from typing import Dict, List, Optional, Sequence

from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmseg')

import torch  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.models.segmentors import SegTTAModel  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from torch import Tensor  # noqa: E402

from m2f_mm.models.inference import resize_mask_logits, semantic_inference  # noqa: E402
from m2f_mm.models.mask2former_head import Mask2FormerHead  # noqa: E402
from m2f_mm.models.targets import IGNORE_INDEX, masks_from_label_map  # noqa: E402
from m2f_mm.registry import MODELS  # noqa: E402
from m2f_mm.utils.arguments import check_arguments  # noqa: E402
from m2f_mm.utils.errors import DataError  # noqa: E402

__all__ = ['Mask2FormerDecodeHead', 'Mask2FormerSegTTAModel']


@MODELS.register_module()
class Mask2FormerDecodeHead(Mask2FormerHead):
    """:class:`Mask2FormerHead` with mmseg's decode-head interface.

    Every class present in an image's ``gt_sem_seg`` becomes one mask target.

    Args:
        num_classes: K.
        ignore_index: Label of ignored and padded pixels.
        align_corners: Read by ``EncoderDecoder`` when it resizes the logits.
        **kwargs: :class:`Mask2FormerHead` arguments other than ``num_classes``.
    """

    config_key = 'model.decode_head'

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 align_corners: bool = False, **kwargs) -> None:
        check_arguments(Mask2FormerHead, kwargs, self.config_key)
        super().__init__(num_classes=num_classes, **kwargs)
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        # EncoderDecoder reads the number of output channels of its decode head.
        self.out_channels = num_classes

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: List[SegDataSample],
             train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Losses from mmseg data samples; ``train_cfg`` is unused (see ``criterion``)."""
        targets = []
        for data_sample in batch_data_samples:
            labels, masks = masks_from_label_map(data_sample.gt_sem_seg.data, self.ignore_index)
            if labels.numel() and labels.max() >= self.num_classes:
                raise DataError(
                    f'{data_sample.metainfo.get("seg_map_path", "a label map")}: label '
                    f'{int(labels.max())} is >= model.decode_head.num_classes='
                    f'{self.num_classes} and is not the ignore index {self.ignore_index}')
            targets.append(dict(labels=labels, masks=masks))
        return self.loss_by_targets(inputs, targets)

    def predict(self, inputs: Sequence[Tensor], batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Semantic scores (B, K, H, W) at the network input size, as mmseg expects.

        That is the padded batch (``pad_shape``), or with ``test_cfg.mode='slide'``
        the crop: mmseg's ``slide_inference`` calls this once per crop with the
        image's metas, ``img_shape`` set to the crop's and ``pad_shape`` left at the
        whole padded image's.

        The scores are class probability x mask probability summed over the
        queries (non-negative, not logits), as the reference's semantic output.
        """
        return self.scores_from_logits(*self.final_prediction(inputs), batch_img_metas, test_cfg)

    def scores_from_logits(self, cls_logits: Tensor, mask_logits: Tensor,
                           batch_img_metas: List[dict],
                           test_cfg: Optional[dict] = None) -> Tensor:
        """Semantic scores (B, K, H, W) from the final class logits (B, Q, K + 1) and
        mask logits (B, Q, H/4, W/4): :meth:`predict` after the network, and the
        post-processing of an exported network's outputs."""
        meta = batch_img_metas[0]
        if test_cfg is not None and test_cfg.get('mode') == 'slide':
            size = meta['img_shape'][:2]
        else:
            size = meta.get('pad_shape', meta['img_shape'])[:2]
        return torch.stack([
            semantic_inference(image_cls, resize_mask_logits(image_masks, size))
            for image_cls, image_masks in zip(cls_logits, mask_logits)])


@MODELS.register_module()
class Mask2FormerSegTTAModel(SegTTAModel):
    """mmseg's ``SegTTAModel`` merging the augmentations as the reference does: the
    mean of their class scores.

    ``SegTTAModel`` averages ``softmax(seg_logits)``, which suits logits; the scores of
    :class:`Mask2FormerDecodeHead` are already non-negative per-class scores, and the
    reference averages them as they are. Each augmentation's scores arrive flipped
    back and resized to the original image by ``EncoderDecoder``; the merged sample
    (with the first augmentation's metainfo) keeps the mean as ``seg_logits``
    (K, H, W) and its argmax as ``pred_sem_seg`` (1, H, W).
    """

    def merge_preds(self, data_samples_list: List[List[SegDataSample]]) -> List[SegDataSample]:
        """One merged :class:`SegDataSample` per image from its augmentations' samples."""
        merged = []
        for data_samples in data_samples_list:
            first = data_samples[0]
            scores = sum(sample.seg_logits.data for sample in data_samples) / len(data_samples)
            result = SegDataSample(metainfo=first.metainfo)
            result.seg_logits = PixelData(data=scores)
            result.pred_sem_seg = PixelData(data=scores.argmax(0, keepdim=True))
            if 'gt_sem_seg' in first:
                result.gt_sem_seg = first.gt_sem_seg
            merged.append(result)
        return merged
