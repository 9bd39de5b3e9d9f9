"""m2f_mm's head inside mmdet's detector: loss, and panoptic + instance + semantic prediction."""
import numpy as np
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData

from tests.adapters._small_models import build_detector

H, W = 70, 90  # padded to 96 x 96 by the data preprocessor


def _sample(with_gt=True):
    sample = DetDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(2 * H, 2 * W),
                                         scale_factor=(0.5, 0.5)))
    if with_gt:
        masks = np.zeros((2, H, W), dtype=np.uint8)
        masks[0, 5:30, 5:40] = 1
        masks[1, 40:65, 50:85] = 1
        sample.gt_instances = InstanceData(labels=torch.tensor([0, 2]),
                                           masks=BitmapMasks(masks, H, W),
                                           bboxes=torch.tensor([[5., 5, 40, 30], [50, 40, 85, 65]]))
        sem = torch.full((1, H, W), 255, dtype=torch.long)
        sem[0, 30:, :45] = 3  # stuff
        sem[0, :5] = 4        # stuff
        sample.gt_sem_seg = PixelData(sem_seg=sem)
    return sample


def _data(n=2, with_gt=True):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 255, (3, H, W), generator=g, dtype=torch.uint8)
                        for _ in range(n)],
                data_samples=[_sample(with_gt) for _ in range(n)])


def test_loss_through_mmdet_detector():
    torch.manual_seed(0)
    model = build_detector()
    model.init_weights()
    losses = model(**model.data_preprocessor(_data(), training=True), mode='loss')
    assert {'loss_cls', 'loss_mask', 'loss_dice', 'd0.loss_cls', 'd2.loss_dice'} <= set(losses)
    assert len(losses) == 12  # 3 decoder layers + the query prediction, 3 losses each
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.panoptic_head.predictor.query_feat.weight.grad.abs().sum() > 0


def test_stuff_targets_come_from_the_semantic_map():
    model = build_detector()
    data = model.data_preprocessor(_data(1), training=True)
    targets = model.panoptic_head._targets(data['data_samples'][0])
    # things 0 and 2 from gt_instances; stuff 3 and 4 from gt_sem_seg (255 and
    # thing pixels are not stuff targets).
    assert targets['labels'].tolist() == [0, 2, 3, 4]
    assert targets['masks'].shape == (4, 96, 96)
    assert targets['masks'][2].sum() == (H - 30) * 45


def test_predict_emits_panoptic_instance_and_semantic():
    model = build_detector().eval()
    with torch.no_grad():
        results = model.test_step(_data(with_gt=False))
    for result in results:
        pan = result.pred_panoptic_seg.sem_seg
        assert pan.shape == (1, 2 * H, 2 * W)  # rescaled to the original size
        labels = pan % INSTANCE_OFFSET
        assert ((labels < 5) | (pan == 5)).all()  # a class, or void (= num_classes)
        assert result.pred_sem_seg.sem_seg.shape == (1, 2 * H, 2 * W)
        assert result.pred_sem_seg.sem_seg.max() < 5
        inst = result.pred_instances
        assert inst.masks.shape[1:] == (2 * H, 2 * W) and inst.bboxes.shape[1] == 4
        assert (inst.labels < 3).all()  # things only: the model was trained panoptic


@pytest.mark.parametrize('bad,message', [
    (dict(filter_low_score=False), 'filter_low_score=False'),
    (dict(nms=True), "unknown test_cfg keys \\['nms'\\]"),
])
def test_fusion_head_rejects_settings_it_would_ignore(bad, message):
    with pytest.raises(ValueError, match=message):
        build_detector(**bad)


def test_head_rejects_mmdet_train_cfg():
    from mmengine.registry import DefaultScope, MODELS
    with DefaultScope.overwrite_default_scope('mmdet'), \
            pytest.raises(ValueError, match='train_cfg must be empty'):
        MODELS.build(dict(type='m2f_mm.Mask2FormerDetHead', num_things_classes=3,
                          num_stuff_classes=2, in_channels=[8], strides=[4],
                          train_cfg=dict(num_points=12544)))


def test_mmdet_test_cfg_names_are_translated():
    detector = build_detector(object_mask_thr=0.6, iou_thr=0.7, max_per_image=50,
                              filter_low_score=True)
    inference = detector.panoptic_fusion_head.inference
    assert (inference.object_mask_threshold, inference.overlap_threshold) == (0.6, 0.7)
    assert inference.max_per_image == 50


def test_fusion_head_takes_the_class_counts_of_the_panoptic_head():
    detector = build_detector(num_things=4, num_stuff=1)
    for head in (detector.panoptic_head, detector.panoptic_fusion_head):
        assert (head.num_things_classes, head.num_classes) == (4, 5)
    # Counts that disagree are stopped, naming both keys.
    with pytest.raises(ValueError, match='model.panoptic_fusion_head.num_stuff_classes=0 '
                                         'disagrees with model.panoptic_head.num_stuff_classes=1'):
        build_detector(num_things=4, num_stuff=1, fusion_overrides=dict(num_stuff_classes=0))
