"""The criterion across two real processes (gloo): a rank whose image has no targets
neither hangs nor skews the loss.

Rank 0 holds an image with two targets, rank 1 one with none. The mask losses
are normalised by the number of target masks averaged over the ranks, so the
mean of the two ranks' mask losses (what DDP's gradient averaging optimises)
equals the single-process loss of the same two images in one batch. The
predictions match their targets unambiguously, so the random matching points
cannot change the assignment.
"""
import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from m2f_mm.models.criterion import Mask2FormerCriterion

H = W = 32


def _case():
    """Per image: one prediction stage (1, Q, K+1) / (1, Q, H/4, W/4), targets."""
    boxes = [(0, 16, 0, 16), (16, 32, 8, 32)]
    masks = torch.zeros(2, H, W, dtype=torch.bool)
    for mask, (y0, y1, x0, x1) in zip(masks, boxes):
        mask[y0:y1, x0:x1] = True
    logits = torch.full((1, 4, H // 4, W // 4), -6.0)
    for q, (y0, y1, x0, x1) in enumerate(boxes):
        logits[0, q, y0 // 4:y1 // 4, x0 // 4:x1 // 4] = 6.0
    cls = torch.zeros(1, 4, 4)
    cls[0, 0, 1] = cls[0, 1, 2] = 5.0
    with_targets = (cls, logits, dict(labels=torch.tensor([1, 2]), masks=masks))
    empty = (cls.clone(), logits.clone(),
             dict(labels=torch.zeros(0, dtype=torch.long), masks=torch.zeros(0, H, W).bool()))
    return [with_targets, empty]


def _criterion():
    return Mask2FormerCriterion(num_classes=3, num_points=64, point_sampled=False)


def _losses(images):
    cls = torch.cat([c for c, _, _ in images]).requires_grad_()
    masks = torch.cat([m for _, m, _ in images]).requires_grad_()
    losses = _criterion()([cls], [masks], [t for _, _, t in images])
    sum(losses.values()).backward()
    assert torch.isfinite(masks.grad).all() and torch.isfinite(cls.grad).all()
    return {k: v.item() for k, v in losses.items()}


_WORKER = '''
import json, os, sys, torch, torch.distributed as dist
sys.path.insert(0, os.getcwd())
from tests.models.test_criterion_distributed import _case, _losses
dist.init_process_group('gloo')
torch.manual_seed(0)
losses = _losses([_case()[dist.get_rank()]])
print(json.dumps(losses), flush=True)
dist.destroy_process_group()
'''


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_rank_without_targets_neither_hangs_nor_skews_the_loss(free_port):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    procs = [subprocess.Popen([sys.executable, '-c', _WORKER], cwd=repo, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, MASTER_ADDR='127.0.0.1',
                                       MASTER_PORT=str(free_port), WORLD_SIZE='2',
                                       RANK=str(rank)))
             for rank in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-2000:]
    per_rank = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert per_rank[1]['loss_mask'] == per_rank[1]['loss_dice'] == 0.0
    torch.manual_seed(0)
    single = _losses(_case())
    for key in ('loss_mask', 'loss_dice'):
        assert single[key] > 0
        mean = (per_rank[0][key] + per_rank[1][key]) / 2
        assert mean == pytest.approx(single[key], rel=1e-6), key
