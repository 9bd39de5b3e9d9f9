"""ONNX export of the toy models (mmdet panoptic, mmseg semantic) through
tools/deploy/export_onnx.py, run in onnxruntime by m2f_mm.deploy.OnnxModel.

The exported network gives PyTorch's class and mask logits (<= 1e-3), and with the
models' own post-processing the same panoptic, instance and semantic results on every
toy val image, for the toy models after a short schedule.
"""
import os.path as osp
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, DefaultScope

import m2f_mm  # noqa: F401
from m2f_mm.converters import load_trained_weights
from m2f_mm.deploy import LogitsNetwork, OnnxModel
from quickstart import save_untrained_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PANOPTIC = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py'
SEMANTIC = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-semantic.py'
NUM_VAL = 40  # the toy val set


def _model(config, checkpoint=None):
    cfg = Config.fromfile(osp.join(REPO, config))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    if checkpoint:
        load_trained_weights(model, checkpoint, config)
    return cfg, model.eval()


def _export(config, checkpoint, image, out, *options):
    proc = subprocess.run(
        [sys.executable, 'tools/deploy/export_onnx.py', config, checkpoint, '--out', str(out),
         '--image', str(image), *options],
        cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.parametrize('config', [PANOPTIC, SEMANTIC],
                         ids=['mmdet-panoptic', 'mmseg-semantic'])
def test_exported_toy_model_gives_pytorchs_logits_and_results(config, trained_toy_checkpoint,
                                                             tmp_path):
    checkpoint = trained_toy_checkpoint(config)
    cfg, model = _model(config, checkpoint)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == NUM_VAL

    out = tmp_path / 'model.onnx'
    proc = _export(config, checkpoint, dataset[0]['data_samples'].img_path, out)
    assert 'largest difference' in proc.stdout
    graph = onnx.load(str(out))
    ops = {node.op_type for node in graph.graph.node}
    assert 'GridSample' in ops  # the deformable attention's exportable path
    assert [i.name for i in graph.graph.input] == ['inputs']
    assert [o.name for o in graph.graph.output] == ['cls_logits', 'mask_logits']

    runtime = OnnxModel(str(out), model)
    network = LogitsNetwork(model)
    segments = instances = 0
    for index in range(NUM_VAL):
        batch = pseudo_collate([dataset[index]])
        with torch.no_grad():
            inputs = model.data_preprocessor(batch, False)['inputs']
            expected_logits = network(inputs)
            expected = model.test_step(batch)[0]
        for got_logits, want in zip(runtime.logits(inputs), expected_logits):
            assert got_logits.shape == want.shape
            assert (got_logits - want).abs().max() <= 1e-3
        got = runtime.test_step(pseudo_collate([dataset[index]]))[0]
        field = 'sem_seg' if cfg.default_scope == 'mmdet' else 'data'
        assert torch.equal(getattr(got.pred_sem_seg, field),
                           getattr(expected.pred_sem_seg, field))
        if cfg.default_scope == 'mmdet':
            assert torch.equal(got.pred_panoptic_seg.sem_seg, expected.pred_panoptic_seg.sem_seg)
            assert torch.equal(got.pred_instances.labels, expected.pred_instances.labels)
            assert torch.equal(got.pred_instances.masks, expected.pred_instances.masks)
            torch.testing.assert_close(got.pred_instances.scores, expected.pred_instances.scores,
                                       atol=1e-4, rtol=0)
            segments += len(np.unique(expected.pred_panoptic_seg.sem_seg.numpy())) - 1
            instances += len(expected.pred_instances.labels)
    if cfg.default_scope == 'mmdet':  # the comparison had something to compare
        assert segments >= NUM_VAL and instances >= NUM_VAL


@pytest.mark.slow
def test_one_export_serves_other_input_sizes_and_batches(trained_toy_checkpoint, tmp_path):
    """Batch size, height and width are dynamic: a graph traced at 1 x 64 x 96 gives
    PyTorch's logits at other sizes and batch sizes."""
    checkpoint = trained_toy_checkpoint(SEMANTIC)
    out = tmp_path / 'model.onnx'
    proc = subprocess.run(
        [sys.executable, 'tools/deploy/export_onnx.py', SEMANTIC, checkpoint, '--out', str(out),
         '--shape', '64', '96', '--benchmark', '2'], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'onnxruntime / PyTorch' in proc.stdout
    model = _model(SEMANTIC, checkpoint)[1]
    runtime, network = OnnxModel(str(out), model), LogitsNetwork(model)
    generator = torch.Generator().manual_seed(0)
    for shape in [(1, 3, 64, 96), (1, 3, 128, 128), (2, 3, 96, 160), (3, 3, 32, 64)]:
        inputs = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            expected = network(inputs)
        got = runtime.logits(inputs)
        assert got[1].shape == (shape[0], 16, shape[2] // 4, shape[3] // 4)
        for a, b in zip(got, expected):
            assert a.shape == b.shape and (a - b).abs().max() <= 1e-3, shape


def test_checkpoint_of_another_model_is_one_line_error(tmp_path):
    checkpoint = save_untrained_checkpoint(PANOPTIC, str(tmp_path / 'panoptic.pth'))
    proc = subprocess.run(
        [sys.executable, 'tools/deploy/export_onnx.py', SEMANTIC, checkpoint, '--out',
         str(tmp_path / 'x.onnx'), '--shape', '64', '64'], cwd=REPO, capture_output=True,
        text=True)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('export_onnx.py: error: checkpoint ') and 'does not fit' in last
    assert not (tmp_path / 'x.onnx').exists()
