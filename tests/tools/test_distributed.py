"""Multi-process runs for real on this CPU machine: tools/dist_{train,test}.sh (torchrun,
gloo) and tools/slurm_{train,test}.sh under a local single-node Slurm.

The val set has 5 images, so 2 processes get 3 each after the sampler's padding:
evaluation must still see every image exactly once, and give the numbers of a
single-process run (batch-1 evaluation, so batching cannot change predictions).
"""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
from quickstart import logged_metrics
from toy_data import generate_toy_dataset

from tests.tools import slurm_cluster

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/toy/mask2former_r18-half_1xb8-600it_toy-panoptic.py'
NUM_VAL = 5
ITERS = 4


def _options(root):
    coco = f'{root}/coco/'
    options = [f'train_dataloader.dataset.data_root={coco}', f'train_cfg.max_iters={ITERS}',
               f'train_cfg.val_interval={ITERS}', 'train_dataloader.batch_size=2']
    for split in ('val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={coco}',
                    f'{split}_evaluator.0.ann_file={coco}annotations/panoptic_val.json',
                    f'{split}_evaluator.0.seg_prefix={coco}annotations/panoptic_val/',
                    f'{split}_evaluator.1.ann_file={coco}annotations/instances_val.json']
    return ['--cfg-options'] + options


# An intermittent abort of one gloo process on this 2-core machine, not yet explained
# (see the README, "Several GPUs"): a launch that dies of it is tried once more.
_GLOO_ABORT = 'terminate called without an active exception'


def _run(cmd, **env):
    for attempt in range(2):
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              env=dict(os.environ, **env), timeout=600)
        output = proc.stdout + proc.stderr
        if proc.returncode == 0 or _GLOO_ABORT not in output:
            break
        print(f'retrying after a gloo abort: {" ".join(cmd[:3])}', file=sys.stderr)
    assert proc.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    generate_toy_dataset(str(root), num_train=8, num_val=NUM_VAL, image_size=(64, 64))
    return root


@pytest.fixture(scope='module')
def single(toy_root, tmp_path_factory):
    """A single-process training run, then tools/test.py on its checkpoint."""
    work_dir = tmp_path_factory.mktemp('single')
    _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir / 'train'),
          *_options(toy_root)])
    checkpoint = work_dir / 'train' / f'iter_{ITERS}.pth'
    _run([sys.executable, 'tools/test.py', CONFIG, str(checkpoint), '--work-dir',
          str(work_dir / 'test'), '--out', str(work_dir / 'out.pkl'), *_options(toy_root)])
    return dict(checkpoint=checkpoint, metrics=logged_metrics(str(work_dir / 'test')),
                ids=_image_ids(work_dir / 'out.pkl'))


def _image_ids(dump):
    with open(dump, 'rb') as f:
        return [sample['img_id'] for sample in pickle.load(f)]


def _assert_same_evaluation(single, metrics, ids):
    assert len(single['ids']) == NUM_VAL and len(set(single['ids'])) == NUM_VAL
    assert sorted(ids) == sorted(single['ids'])  # each image exactly once
    for key in ('coco_panoptic/PQ', 'coco_panoptic/PQ_th', 'coco_panoptic/PQ_st',
                'coco/segm_mAP', 'mIoU'):
        assert metrics[key] == pytest.approx(single['metrics'][key], abs=1e-6), key


def _assert_trained_by_rank_0(work_dir, log):
    assert '[m2f_mm] no GPU: 2 processes on the CPU (gloo' in log
    assert (work_dir / f'iter_{ITERS}.pth').is_file()
    assert 'coco_panoptic/PQ' in logged_metrics(str(work_dir))
    # One log folder and one set of checkpoints: rank 0 writes them.
    assert len([p for p in work_dir.iterdir() if p.is_dir()]) == 1
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [f'iter_{ITERS}.pth']


@pytest.mark.slow
def test_dist_train_and_test_with_two_processes(toy_root, single, tmp_path):
    log = _run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path / 'wd'),
                *_options(toy_root)], PORT='29631')
    _assert_trained_by_rank_0(tmp_path / 'wd', log)
    _run(['bash', 'tools/dist_test.sh', CONFIG, str(single['checkpoint']), '2', '--work-dir',
          str(tmp_path / 'test'), '--out', str(tmp_path / 'out.pkl'), *_options(toy_root)],
         PORT='29632')
    _assert_same_evaluation(single, logged_metrics(str(tmp_path / 'test')),
                            _image_ids(tmp_path / 'out.pkl'))


@pytest.mark.slow
def test_slurm_train_and_test_with_two_tasks(toy_root, single, tmp_path):
    cluster = slurm_cluster.start(tmp_path / 'slurm')
    if cluster.skip_reason:
        pytest.skip(cluster.skip_reason)
    try:
        env = dict(cluster.env, GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1',
                   MASTER_ADDR='127.0.0.1', MASTER_PORT='29633')
        log = _run(['bash', 'tools/slurm_train.sh', cluster.partition, 'm2f_train', CONFIG,
                    str(tmp_path / 'wd'), *_options(toy_root)], **env)
        _assert_trained_by_rank_0(tmp_path / 'wd', log)
        _run(['bash', 'tools/slurm_test.sh', cluster.partition, 'm2f_test', CONFIG,
              str(single['checkpoint']), '--work-dir', str(tmp_path / 'test'), '--out',
              str(tmp_path / 'out.pkl'), *_options(toy_root)], **dict(env, MASTER_PORT='29634'))
        _assert_same_evaluation(single, logged_metrics(str(tmp_path / 'test')),
                                _image_ids(tmp_path / 'out.pkl'))
    finally:
        cluster.stop()
