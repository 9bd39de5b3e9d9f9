"""Adapter: the core head as the ``panoptic_head`` of an mmdet detector.

Shape letters: B batch, Q queries, K classes, H x W padded input size,
M target masks of an image.

mmdet's ``MaskFormer.add_pred_to_datasample`` asserts semantic results away,
so :class:`Mask2FormerDetector` overrides it; everything else is mmdet's.
"""
import dataclasses
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

from m2f_mm.utils.hosts import require_hosts

require_hosts(__name__, 'mmdet')

import torch  # noqa: E402
from mmdet.evaluation.functional import INSTANCE_OFFSET  # noqa: E402
from mmdet.models.detectors import Mask2Former as MMDetMask2Former  # noqa: E402
from mmdet.structures import DetDataSample  # noqa: E402
from mmdet.structures.mask import BitmapMasks, mask2bbox  # noqa: E402
from mmengine.model import BaseModule  # noqa: E402
from mmengine.structures import InstanceData, PixelData  # noqa: E402
from torch import Tensor  # noqa: E402

from m2f_mm.adapters.folded_bottleneck import use_folded_bottlenecks  # noqa: E402
from m2f_mm.models.inference import Mask2FormerInference, resize_mask_logits  # noqa: E402
from m2f_mm.models.layers.frozen_batch_norm import use_frozen_batch_norm  # noqa: E402
from m2f_mm.models.layers.max_pool import use_channels_last_max_pool  # noqa: E402
from m2f_mm.models.layers.pointwise_conv import use_pointwise_conv  # noqa: E402
from m2f_mm.models.mask2former_head import Mask2FormerHead  # noqa: E402
from m2f_mm.models.targets import masks_from_label_map  # noqa: E402
from m2f_mm.registry import MODELS, qualify_plugin_type  # noqa: E402
from m2f_mm.utils.arguments import check_arguments  # noqa: E402
from m2f_mm.utils.errors import DataError  # noqa: E402

__all__ = ['Mask2FormerDetHead', 'Mask2FormerFusionHead', 'Mask2FormerDetector']

# The one translation of mmdet's test_cfg names into Mask2FormerInference's:
# ``iou_thr`` is in fact the kept fraction of a query's own mask (an area ratio).
MMDET_TEST_CFG_NAMES = dict(object_mask_thr='object_mask_threshold',
                            iou_thr='overlap_threshold')
# The switches and thresholds a test_cfg may set: every Mask2FormerInference field but
# the class counts, which come from the head.
_INFERENCE_KEYS = {f.name for f in dataclasses.fields(Mask2FormerInference)} - {
    'num_classes', 'num_things_classes'}


@MODELS.register_module()
class Mask2FormerDetHead(Mask2FormerHead):
    """:class:`Mask2FormerHead` with mmdet's ``panoptic_head`` interface.

    Args:
        num_things_classes: Thing classes, labels ``[0, num_things_classes)``.
        num_stuff_classes: Stuff classes, the labels after the things.
        train_cfg: Filled in by mmdet's detector; must be empty, since the
            matching and loss settings live in ``criterion``.
        test_cfg: Filled in by mmdet's detector; unused by the head.
        **kwargs: :class:`Mask2FormerHead` arguments other than ``num_classes``.
    """

    config_key = 'model.panoptic_head'

    def __init__(self, num_things_classes: int, num_stuff_classes: int,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        check_arguments(Mask2FormerHead, kwargs, self.config_key)
        if train_cfg:
            raise ValueError(
                'm2f_mm.Mask2FormerDetHead: model.train_cfg must be empty; set the matcher '
                f'and point sampling in panoptic_head.criterion instead (got {dict(train_cfg)})')
        super().__init__(num_classes=num_things_classes + num_stuff_classes, **kwargs)
        self.num_things_classes = num_things_classes
        self.num_stuff_classes = num_stuff_classes

    def forward(self, x: Sequence[Tensor],
                batch_data_samples: Optional[List[DetDataSample]] = None
                ) -> Tuple[List[Tensor], List[Tensor]]:
        """See :meth:`Mask2FormerHead.forward`; the data samples are not needed."""
        return super().forward(x)

    def loss(self, x: Sequence[Tensor], batch_data_samples: List[DetDataSample]) -> dict:
        """Losses from mmdet data samples (things from ``gt_instances``, stuff from ``gt_sem_seg``)."""
        return self.loss_by_targets(x, [self._targets(ds) for ds in batch_data_samples])

    def predict(self, x: Sequence[Tensor],
                batch_data_samples: List[DetDataSample]) -> Tuple[Tensor, Tensor]:
        """Final class logits (B, Q, K + 1) and mask logits (B, Q, H/4, W/4); the
        fusion head brings the masks to image pixels."""
        return self.final_prediction(x)

    def _targets(self, data_sample: DetDataSample) -> Dict[str, Tensor]:
        instances = data_sample.gt_instances
        masks = instances.masks
        if isinstance(masks, BitmapMasks):
            masks = masks.to_tensor(dtype=torch.bool, device=instances.labels.device)
        labels, masks = instances.labels.long(), masks.bool()
        if 'gt_sem_seg' in data_sample and self.num_stuff_classes > 0:
            stuff_labels, stuff_masks = masks_from_label_map(
                data_sample.gt_sem_seg.sem_seg,
                label_range=(self.num_things_classes, self.num_classes))
            labels = torch.cat([labels, stuff_labels.to(labels.device)])
            masks = torch.cat([masks, stuff_masks.to(masks.device)])
        return dict(labels=labels, masks=masks)


@MODELS.register_module()
class Mask2FormerFusionHead(BaseModule):
    """Turns the final prediction into mmdet panoptic, instance and semantic results.

    Args:
        num_things_classes: Thing classes.
        num_stuff_classes: Stuff classes.
        test_cfg: Switches and thresholds of
            :class:`~m2f_mm.models.inference.Mask2FormerInference`
            (``panoptic_on``, ``semantic_on``, ``instance_on``,
            ``object_mask_threshold``, ``overlap_threshold``,
            ``max_per_image``); mmdet's names ``object_mask_thr`` and
            ``iou_thr`` are accepted too (:data:`MMDET_TEST_CFG_NAMES`), and so
            is mmdet's ``filter_low_score``, which must be True (segments are
            always cut to mask probability >= 0.5).
        init_cfg: mmengine init config.
    """

    def __init__(self, num_things_classes: int, num_stuff_classes: int,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        if kwargs:
            raise ValueError(f'm2f_mm.Mask2FormerFusionHead: unsupported arguments {sorted(kwargs)}')
        test_cfg = dict(test_cfg or {})
        if not test_cfg.pop('filter_low_score', True):
            raise ValueError('m2f_mm.Mask2FormerFusionHead: test_cfg.filter_low_score=False is '
                             'not supported (Mask2Former keeps only mask probability >= 0.5)')
        test_cfg = {MMDET_TEST_CFG_NAMES.get(k, k): v for k, v in test_cfg.items()}
        unknown = set(test_cfg) - _INFERENCE_KEYS
        if unknown:
            raise ValueError(f'm2f_mm.Mask2FormerFusionHead: unknown test_cfg keys {sorted(unknown)}')
        self.num_things_classes = num_things_classes
        self.num_classes = num_things_classes + num_stuff_classes
        self.inference = Mask2FormerInference(
            num_classes=self.num_classes, num_things_classes=num_things_classes, **test_cfg)

    def predict(self, mask_cls_results: Tensor, mask_pred_results: Tensor,
                batch_data_samples: List[DetDataSample], rescale: bool = False) -> List[dict]:
        """Per image, any of ``pan_results``, ``ins_results`` and ``sem_results``.

        Args:
            mask_cls_results: (B, Q, K + 1).
            mask_pred_results: (B, Q, H/4, W/4) for the padded input.
            batch_data_samples: Their metainfo gives batch_input_shape,
                img_shape and ori_shape.
            rescale: Resize to the original image size.
        """
        results = []
        for cls_logits, mask_logits, ds in zip(mask_cls_results, mask_pred_results,
                                               batch_data_samples):
            meta = ds.metainfo
            resize = partial(resize_mask_logits, pad_size=meta['batch_input_shape'],
                             img_size=meta['img_shape'],
                             ori_size=meta['ori_shape'] if rescale else None)
            outputs = self.inference(cls_logits, mask_logits, resize)
            result = {}
            if 'panoptic' in outputs:
                result['pan_results'] = self._to_mmdet_panoptic(*outputs['panoptic'])
            if 'instance' in outputs:
                inst = outputs['instance']
                result['ins_results'] = InstanceData(
                    bboxes=mask2bbox(inst['masks']), labels=inst['labels'],
                    scores=inst['scores'], masks=inst['masks'])
            if 'semantic' in outputs:
                result['sem_results'] = PixelData(sem_seg=outputs['semantic'].argmax(0)[None])
            results.append(result)
        return results

    def _to_mmdet_panoptic(self, segment_map: Tensor, segments: List[dict]) -> PixelData:
        """Encode as mmdet does: stuff ``label``, things ``label + k * INSTANCE_OFFSET``, void K."""
        pan = torch.full_like(segment_map, self.num_classes, dtype=torch.int32)
        instance_id = 0
        for seg in segments:
            code = seg['label']
            if seg['isthing']:
                instance_id += 1
                code += instance_id * INSTANCE_OFFSET
            pan[segment_map == seg['id']] = code
        return PixelData(sem_seg=pan[None])


@MODELS.register_module()
class Mask2FormerDetector(MMDetMask2Former):
    """mmdet's Mask2Former detector that also emits semantic results, and whose
    backbone's frozen BatchNorm layers run as
    :class:`~m2f_mm.models.layers.frozen_batch_norm.FrozenBatchNorm2d` (folded
    into the convolution before them in its bottleneck blocks,
    :class:`~m2f_mm.adapters.folded_bottleneck.FoldedBottleneck`), its
    convolutions as :class:`~m2f_mm.models.layers.pointwise_conv.Conv2d` and
    its max-pools as :class:`~m2f_mm.models.layers.max_pool.MaxPool2d`.

    Bare ``type`` names of ``panoptic_head`` and ``panoptic_fusion_head``
    resolve to m2f_mm's classes first (mmdet has classes of the same names).
    The fusion head takes its class counts from ``panoptic_head`` unless its
    own config sets them, so a config states them once.
    """

    def __init__(self, *args, panoptic_head: dict, panoptic_fusion_head: dict, **kwargs) -> None:
        heads = [qualify_plugin_type(panoptic_head), qualify_plugin_type(panoptic_fusion_head)]
        for key in ('num_things_classes', 'num_stuff_classes'):
            if key in heads[0] and heads[1].setdefault(key, heads[0][key]) != heads[0][key]:
                raise DataError(f'model.panoptic_fusion_head.{key}={heads[1][key]} disagrees '
                                f'with model.panoptic_head.{key}={heads[0][key]}; set it '
                                'once, in panoptic_head')
        super().__init__(*args, panoptic_head=heads[0], panoptic_fusion_head=heads[1], **kwargs)
        # Frozen BatchNorm (the R50 configs) then saves no activations and runs
        # inside the convolution before it, 1x1 convolutions run as matrix
        # products on CPU and inference max-pools channels-last; any other layer
        # computes exactly as before.
        for use_faster_layers in (use_frozen_batch_norm, use_folded_bottlenecks,
                                  use_pointwise_conv, use_channels_last_max_pool):
            use_faster_layers(self.backbone)

    def predict(self, batch_inputs: Tensor, batch_data_samples: List[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        """mmdet's predict, through :meth:`predict_from_logits`."""
        cls_logits, mask_logits = self.panoptic_head.predict(self.extract_feat(batch_inputs),
                                                             batch_data_samples)
        return self.predict_from_logits(cls_logits, mask_logits, batch_data_samples, rescale)

    def predict_from_logits(self, cls_logits: Tensor, mask_logits: Tensor,
                            batch_data_samples: List[DetDataSample],
                            rescale: bool = True) -> List[DetDataSample]:
        """The post-processing of every prediction, from the network's outputs on: the
        one path of PyTorch inference and of an exported network's outputs.

        Args:
            cls_logits: (B, Q, K + 1) final class logits.
            mask_logits: (B, Q, H/4, W/4) final mask logits of the padded input.
            batch_data_samples: The data samples of the batch (their metainfo).
            rescale: Results at the original image size.
        """
        results = self.panoptic_fusion_head.predict(cls_logits, mask_logits,
                                                    batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def add_pred_to_datasample(self, data_samples: List[DetDataSample],
                               results_list: List[dict]) -> List[DetDataSample]:
        """Attach panoptic, instance and semantic predictions to the data samples."""
        for data_sample, result in zip(data_samples, results_list):
            if 'pan_results' in result:
                data_sample.pred_panoptic_seg = result['pan_results']
            if 'ins_results' in result:
                data_sample.pred_instances = result['ins_results']
            if 'sem_results' in result:
                data_sample.pred_sem_seg = result['sem_results']
        return data_samples
