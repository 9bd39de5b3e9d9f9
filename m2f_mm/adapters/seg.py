"""Adapter: the core head as the ``decode_head`` of mmseg's stock ``EncoderDecoder``.

Shape letters: B batch, Q queries, K classes, H x W padded input size.
"""
from typing import Dict, List, Optional, Sequence

from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmseg')

import torch  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from torch import Tensor  # noqa: E402

from m2f_mm.models.inference import resize_mask_logits, semantic_inference  # noqa: E402
from m2f_mm.models.mask2former_head import Mask2FormerHead  # noqa: E402
from m2f_mm.models.targets import IGNORE_INDEX, masks_from_label_map  # noqa: E402
from m2f_mm.registry import MODELS  # noqa: E402
from m2f_mm.utils.arguments import check_arguments  # noqa: E402
from m2f_mm.utils.errors import DataError  # noqa: E402

__all__ = ['Mask2FormerDecodeHead']


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
        """Semantic scores (B, K, H, W) at the padded input size, as mmseg expects."""
        cls_preds, mask_preds = self(inputs)
        meta = batch_img_metas[0]
        pad_size = meta.get('pad_shape', meta['img_shape'])[:2]
        return torch.stack([
            semantic_inference(cls_logits, resize_mask_logits(mask_logits, pad_size))
            for cls_logits, mask_logits in zip(cls_preds[-1], mask_preds[-1])])
