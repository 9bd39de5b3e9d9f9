"""multi_head_attention against nn.MultiheadAttention with the mask repeated per head."""
import pytest
import torch
from torch import nn

from m2f_mm.models.layers.transformer_layers import multi_head_attention


def _inputs(b=2, q=5, s=7, c=12, dtype=torch.float64):
    gen = torch.Generator().manual_seed(0)
    query, key, value = (torch.randn(b, n, c, generator=gen, dtype=dtype) for n in (q, s, s))
    blocked = torch.rand(b, q, s, generator=gen) < 0.5
    blocked[:, 0] = False  # a row that attends everywhere
    blocked[:, 1, :-1] = True  # a row that attends to one key
    return query, key, value, blocked


@pytest.mark.parametrize('masked', [True, False])
def test_equals_multihead_attention(masked):
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(12, 3, batch_first=True).double()
    with torch.no_grad():
        attn.in_proj_bias.normal_()
    query, key, value, blocked = _inputs()
    blocked = blocked if masked else None
    grad = torch.randn_like(query)

    def run(fn):
        attn.zero_grad()
        inputs = [t.clone().requires_grad_() for t in (query, key, value)]
        out = fn(*inputs)
        out.backward(grad)
        return [out] + [t.grad for t in inputs] + [p.grad.clone() for p in attn.parameters()]

    ours = run(lambda q, k, v: multi_head_attention(attn, q, k, v, blocked))
    mask = None if blocked is None else blocked.repeat_interleave(3, dim=0)  # (B * N, Q, S)
    theirs = run(lambda q, k, v: attn(q, k, v, attn_mask=mask, need_weights=False)[0])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_dropout_in_training_only():
    attn = nn.MultiheadAttention(12, 3, dropout=0.5, batch_first=True).double()
    query, key, value, _ = _inputs()
    attn.train()
    assert not torch.equal(multi_head_attention(attn, query, key, value),
                           multi_head_attention(attn, query, key, value))
    attn.eval()
    torch.testing.assert_close(multi_head_attention(attn, query, key, value),
                               attn(query, key, value, need_weights=False)[0],
                               atol=1e-12, rtol=0)
