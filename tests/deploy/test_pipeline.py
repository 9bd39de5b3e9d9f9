"""The test pipeline of a config for in-memory images (m2f_mm.deploy.pipeline)."""
import os.path as osp

import pytest
from mmengine.config import Config

from m2f_mm.deploy import inference_pipeline
from m2f_mm.utils.errors import DataError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PANOPTIC = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py'
SEMANTIC = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py'


def test_inference_pipeline_drops_annotation_loading():
    cfg = Config.fromfile(osp.join(REPO, PANOPTIC))
    pipeline = inference_pipeline(cfg)
    assert [t['type'] for t in pipeline] == ['LoadImageFromNDArray', 'PackDetInputs']
    assert 'img_id' not in pipeline[-1]['meta_keys']
    cfg = Config.fromfile(osp.join(REPO, SEMANTIC))
    assert [t['type'] for t in inference_pipeline(cfg)] == ['LoadImageFromNDArray',
                                                             'PackSegInputs']


def test_a_pipeline_that_loads_no_image_is_refused():
    cfg = Config.fromfile(osp.join(REPO, SEMANTIC))
    cfg.test_dataloader.dataset.pipeline = [dict(type='PackSegInputs')]
    with pytest.raises(DataError, match='test_dataloader.dataset.pipeline has no '
                                        'LoadImageFromFile'):
        inference_pipeline(cfg)
