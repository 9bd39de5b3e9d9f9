"""Host isolation: the core imports no host library, an mmseg user needs no mmdet and
an mmdet user needs no mmseg. Each case runs in a fresh interpreter; a meta-path
blocker makes importing the blocked host fail as if it were not installed."""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

_BLOCK = '''
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == {host!r} or name.startswith({host!r} + '.'):
            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
sys.meta_path.insert(0, Blocker())
'''

# Builds a toy config's model in its host's scope and takes one training step on
# a synthetic 64x64 batch with one target per image; prints what it saw as JSON.
_STEP = '''
import json, sys, torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS
cfg = Config.fromfile({config!r})
torch.manual_seed(0)
with DefaultScope.overwrite_default_scope(cfg.default_scope):
    model = MODELS.build(cfg.model)
    model.init_weights()
    inputs = [torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8) for _ in range(2)]
    samples = {samples}
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
print(json.dumps(dict(
    loss=loss.item(), head=type(model.decode_head if hasattr(model, 'decode_head')
                                 else model.panoptic_head).__module__,
    hosts=sorted({{m.split('.')[0] for m in sys.modules if m.split('.')[0] in ('mmdet', 'mmseg')}}))))
'''

_SEG_SAMPLES = '''[]
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        label = torch.zeros(1, 64, 64, dtype=torch.long)
        label[:, 16:48, 16:48] = 2
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)'''

_DET_SAMPLES = '''[]
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData, PixelData
    for _ in range(2):
        s = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
        masks[:, 16:48, 16:48] = 1
        s.gt_instances = InstanceData(labels=torch.tensor([1]), bboxes=torch.zeros(1, 4),
                                      masks=BitmapMasks(masks.numpy(), 64, 64))
        s.gt_sem_seg = PixelData(sem_seg=torch.full((1, 64, 64), 255, dtype=torch.long))
        samples.append(s)'''

TOY = osp.join(REPO, 'configs', 'toy')


def _run(code):
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_core_imports_no_host_library():
    seen = _run('''
import json, sys
import m2f_mm, m2f_mm.models, m2f_mm.ops, m2f_mm.converters, m2f_mm.engine
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('mmdet', 'mmseg'))))
''')
    assert seen == []


def test_core_head_builds_and_runs_with_no_host_installed():
    seen = _run(_BLOCK.format(host='mmdet') + _BLOCK.format(host='mmseg') + '''
import json, torch
from m2f_mm.registry import MODELS
head = MODELS.build(dict(type='Mask2FormerHead', in_channels=[8, 16, 32, 64],
                         strides=[4, 8, 16, 32], num_classes=3, num_queries=4, embed_dims=32,
                         mask_channels=32,
                         pixel_decoder=dict(type='MSDeformAttnPixelDecoder', num_layers=1,
                                            num_heads=4, ffn_channels=32),
                         transformer_decoder=dict(type='MaskedAttentionDecoder', num_heads=4,
                                                  ffn_channels=32, num_layers=2)))
head.init_weights()
feats = [torch.randn(1, c, 64 // s, 64 // s) for c, s in zip([8, 16, 32, 64], [4, 8, 16, 32])]
target = dict(labels=torch.tensor([1]), masks=torch.zeros(1, 64, 64, dtype=torch.bool))
target['masks'][0, 8:40, 8:40] = True
losses = head.loss_by_targets(feats, [target])
print(json.dumps(dict(stages=len(head(feats)[0]), loss=sum(losses.values()).item())))
''')
    assert seen['stages'] == 3 and seen['loss'] > 0


@pytest.mark.parametrize('blocked, config, samples, kept', [
    ('mmdet', 'mask2former_r18-half_1xb8-600it_toy-semantic.py', _SEG_SAMPLES, 'mmseg'),
    ('mmseg', 'mask2former_r18-half_1xb8-600it_toy-panoptic.py', _DET_SAMPLES, 'mmdet'),
])
def test_toy_model_builds_and_steps_without_the_other_host(blocked, config, samples, kept):
    seen = _run(_BLOCK.format(host=blocked) + _STEP.format(config=osp.join(TOY, config),
                                                           samples=samples))
    assert seen['hosts'] == [kept]
    assert seen['head'].startswith('m2f_mm.adapters.')
    assert seen['loss'] > 0


@pytest.mark.parametrize('blocked, adapter, type_name, package', [
    ('mmdet', 'det', 'Mask2FormerDetHead', 'mmdet'),
    ('mmseg', 'seg', 'Mask2FormerDecodeHead', 'mmsegmentation'),
])
def test_adapter_of_a_missing_host_names_the_package(blocked, adapter, type_name, package):
    messages = _run(_BLOCK.format(host=blocked) + f'''
import json
from mmengine.registry import MODELS
import m2f_mm
messages = []
try:
    import m2f_mm.adapters.{adapter}
except ImportError as err:
    messages.append(str(err))
try:
    MODELS.build(dict(type='m2f_mm.{type_name}', num_classes=3))
except ImportError as err:
    messages.append(str(err))
print(json.dumps(messages))
''')
    assert len(messages) == 2
    assert messages[0].startswith(f'm2f_mm.adapters.{adapter} needs {package}, which is not '
                                  f'installed: pip install {package}')
    assert f'm2f_mm.{type_name} needs {package}, which is not installed' in messages[1]
