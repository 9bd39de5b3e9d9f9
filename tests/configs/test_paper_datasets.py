"""The paper's other datasets through their configs, on fixtures in the official layouts
(tests/datasets/prepare/official_layouts.py) converted by tools/dataset_converters/:

- the converted ground truth loads through the config's test pipeline and, given back as
  the prediction, scores PQ 100 with the config's metric (a round trip through the
  dataset's label numbering, the PNGs and the JSON), and the official Cityscapes AP 100;
- one training step and one evaluation of the R50 config of each dataset and task, by
  mmengine's Runner on CPU (inputs shrunk to 64 pixels, no pretrained weights).
"""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmengine.config import Config
from mmengine.registry import DATASETS, METRICS, DefaultScope
from mmengine.runner import Runner

from m2f_mm.datasets.definitions import ade20k, cityscapes, mapillary_vistas
from m2f_mm.datasets.prepare import convert_ade20k, convert_cityscapes, convert_mapillary_vistas
from ..datasets.prepare.official_layouts import (write_ade20k, write_cityscapes,
                                                 write_mapillary_vistas)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZOO = osp.join(REPO, 'configs', 'mask2former')

# dataset: (writer, converter, the configs' data root)
DATASETS_ON_DISK = {
    'ade20k': (write_ade20k, convert_ade20k, 'data/ade/ADEChallengeData2016/'),
    'cityscapes': (write_cityscapes, convert_cityscapes, 'data/cityscapes/'),
    'mapillary': (write_mapillary_vistas, convert_mapillary_vistas, 'data/mapillary/'),
}
PANOPTIC = {
    'ade20k': 'mask2former_r50_8xb2-160k_ade20k-panoptic-640x640.py',
    'cityscapes': 'mask2former_r50_8xb2-90k_cityscapes-panoptic-512x1024.py',
    'mapillary': 'mask2former_r50_8xb2-300k_mapillary-v1.2-panoptic-1024x1024.py',
}
# config: (dataset, the metric keys its evaluation must log)
TRAINED = {
    PANOPTIC['ade20k']: ('ade20k', ['coco_panoptic/PQ', 'coco/segm_mAP', 'mIoU']),
    'mask2former_r50_8xb2-160k_ade20k-instance-640x640.py': ('ade20k', ['coco/segm_mAP']),
    PANOPTIC['cityscapes']: ('cityscapes', ['coco_panoptic/PQ', 'coco/segm_mAP', 'mIoU']),
    'mask2former_r50_8xb2-90k_cityscapes-instance-512x1024.py': ('cityscapes',
                                                                  ['coco/segm_mAP']),
    PANOPTIC['mapillary']: ('mapillary', ['coco_panoptic/PQ', 'mIoU']),
    'mask2former_r50_8xb2-300k_mapillary-v1.2-semantic-1024x1024.py': ('mapillary', ['mIoU']),
}


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """``converted(dataset)``: the root of its fixture, written and converted once."""
    roots = {}

    def root(dataset: str) -> str:
        if dataset not in roots:
            if dataset == 'cityscapes':
                pytest.importorskip('cityscapesscripts')
            writer, convert, _ = DATASETS_ON_DISK[dataset]
            path = str(tmp_path_factory.mktemp(dataset))
            writer(path)
            convert(path, progress=False)
            roots[dataset] = path
        return roots[dataset]

    return root


def on_fixture(cfg: Config, dataset: str, root: str) -> Config:
    """The config reading the fixture at ``root``: paths, and sizes for a CPU step."""
    text = cfg.pretty_text.replace(DATASETS_ON_DISK[dataset][2], root.rstrip('/') + '/')
    cfg = Config.fromstring(text, '.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=1, num_workers=0, persistent_workers=False)
        for transform in cfg[loader].dataset.pipeline:
            if transform.type == 'RandomChoiceResize':
                transform.scales = [64] if 'resize_type' in transform else [(192, 64)]
            elif transform.type == 'RandomCrop':
                transform.crop_size = (64, 64)
            elif transform.type == 'Resize':
                transform.scale = (192, 64)
    model = cfg.model
    model.backbone.init_cfg = None
    model.backbone.norm_cfg.type = 'BN'  # SyncBN needs a process group
    if 'batch_augments' in model.data_preprocessor:
        model.data_preprocessor.batch_augments[0].size = (64, 64)
    else:
        model.data_preprocessor.size = (64, 64)
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.param_scheduler[0].end = 1
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    return cfg


def ground_truth_as_prediction(sample, num_classes: int) -> dict:
    """An mmdet panoptic prediction equal to a loaded ground truth: stuff labels from
    the semantic map, one segment per thing mask, VOID elsewhere."""
    semantic = sample.gt_sem_seg.sem_seg[0].long()
    pan = torch.where(semantic == 255, num_classes, semantic)
    masks = sample.gt_instances.masks.to_tensor(torch.bool, 'cpu')
    for k, (mask, label) in enumerate(zip(masks, sample.gt_instances.labels), start=1):
        pan[mask] = int(label) + k * INSTANCE_OFFSET
    return dict(img_id=sample.img_id, img_path=sample.img_path,
                pred_panoptic_seg=dict(sem_seg=pan[None]))


@pytest.mark.parametrize('dataset', list(PANOPTIC))
def test_converted_ground_truth_loads_and_scores_pq_100(dataset, converted):
    cfg = on_fixture(Config.fromfile(osp.join(ZOO, PANOPTIC[dataset])), dataset,
                     converted(dataset))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        data = DATASETS.build(cfg.val_dataloader.dataset)
        metric = METRICS.build(cfg.val_evaluator[0])
    metric.dataset_meta = data.metainfo
    num_classes = len(data.metainfo['classes'])
    for index in range(len(data)):
        sample = data[index]['data_samples']
        # Labels follow the metainfo: things below the thing count, each mask one thing.
        things = len(data.metainfo['thing_classes'])
        assert (sample.gt_instances.labels < things).all()
        assert len(sample.gt_instances) == 2
        metric.process({}, [ground_truth_as_prediction(sample, num_classes)])
    result = metric.compute_metrics(metric.results)
    assert result['PQ'] == pytest.approx(100.0)
    assert result['PQ_th'] == pytest.approx(100.0) and result['PQ_st'] == pytest.approx(100.0)


def test_metainfo_matches_the_definitions_and_the_heads():
    """The class counts of the configs' heads follow from the class tables."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'paper_datasets.py'))
    for name, table in (('ade20k', ade20k), ('cityscapes', cityscapes),
                        ('mapillary', mapillary_vistas)):
        head = cfg[f'{name}_panoptic_head']
        assert head.num_things_classes == sum(table.IS_THING)
        assert head.num_stuff_classes == len(table.CLASSES) - sum(table.IS_THING)
    assert cfg.mapillary_decode_head.num_classes == len(mapillary_vistas.CLASSES)
    for name in ('ade20k', 'cityscapes'):
        assert cfg[f'{name}_instance_head'].num_things_classes == sum(
            getattr({'ade20k': ade20k, 'cityscapes': cityscapes}[name], 'IS_THING'))


@pytest.mark.slow
@pytest.mark.parametrize('config', list(TRAINED))
def test_one_training_step_and_evaluation_on_cpu(config, converted, tmp_path):
    dataset, keys = TRAINED[config]
    cfg = on_fixture(Config.fromfile(osp.join(ZOO, config)), dataset, converted(dataset))
    cfg.work_dir = str(tmp_path)
    # Seeded: an untrained panoptic model may rank only stuff classes in its top 100, and
    # then gives no instance (mmdet's CocoMetric then logs no AP).
    cfg.randomness = dict(seed=0)
    # The hosts name their visualiser 'visualizer', and mmengine keeps one per name.
    cfg.visualizer.name = osp.splitext(config)[0]
    # No checkpoint: writing R50 with its AdamW state would take longer than the step.
    cfg.default_hooks.checkpoint.update(interval=-1, save_last=False, save_best=None)
    # The Runner makes its scope the default; restored after, for the tests that follow.
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        Runner.from_cfg(cfg).train()
    records = [json.loads(line)
               for log in glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
               for line in open(log)]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 1 and np.isfinite(losses[0])
    evaluation = [r for r in records if keys[0] in r]
    assert len(evaluation) == 1
    for key in keys:
        assert np.isfinite(evaluation[0][key]), (key, evaluation[0])


def test_cityscapes_official_ap_of_the_ground_truth_is_100(converted, tmp_path):
    """mmdet's CityScapesMetric (cityscapesscripts' evaluation on the gtFine files), as
    the instance configs can use it, on the converted instance fixture."""
    pytest.importorskip('cityscapesscripts')
    config = 'mask2former_r50_8xb2-90k_cityscapes-instance-512x1024.py'
    cfg = on_fixture(Config.fromfile(osp.join(ZOO, config)), 'cityscapes',
                     converted('cityscapes'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        data = DATASETS.build(cfg.val_dataloader.dataset)
        metric = METRICS.build(dict(cfg.cityscapes_official_instance_evaluator,
                                    outfile_prefix=str(tmp_path / 'cs')))
    metric.dataset_meta = data.metainfo
    for index in range(len(data)):
        sample = data[index]['data_samples']
        instances = sample.gt_instances  # the crowds are in sample.ignored_instances
        assert len(instances) == 2 and len(sample.ignored_instances) == 1
        metric.process({}, [dict(img_path=sample.img_path, pred_instances=dict(
            masks=instances.masks.to_tensor(torch.bool, 'cpu'), labels=instances.labels,
            scores=torch.ones(len(instances))))])
    assert metric.compute_metrics(metric.results)['mAP'] == pytest.approx(1.0)
