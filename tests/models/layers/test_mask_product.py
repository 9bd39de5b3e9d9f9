"""mask_product, mask_rows and shared_features equal einsum and indexing, forward and
backward, however sparse the gradient and however the stages share the features,
with the features stored plain or pixel-major (channels-last)."""
import pytest
import torch

from m2f_mm.models.layers.mask_product import mask_product, mask_rows, shared_features


def _grads(fn, embed, features, grad):
    embed, features = embed.clone().requires_grad_(), features.clone().requires_grad_()
    out = fn(embed, features)
    out.backward(grad)
    return out, embed.grad, features.grad


def _stored(features, pixel_major):
    return features.contiguous(memory_format=torch.channels_last) if pixel_major else features


@pytest.mark.parametrize('pixel_major', [False, True])
@pytest.mark.parametrize('rows', ['none', 'some', 'all'])
def test_matches_einsum(rows, pixel_major):
    g = torch.Generator().manual_seed(0)
    embed = torch.randn(3, 7, 5, generator=g, dtype=torch.float64)
    features = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64)
    grad = torch.randn(3, 7, 4, 6, generator=g, dtype=torch.float64)
    keep = {'none': torch.zeros(3, 7, dtype=torch.bool), 'all': torch.ones(3, 7, dtype=torch.bool),
            'some': torch.rand(3, 7, generator=g) < 0.3}[rows]
    keep[1] = False  # an image without any matched query
    grad = grad * keep[..., None, None]
    features = _stored(features, pixel_major)
    ours = _grads(mask_product, embed, features, grad)
    # Pixel-major features give pixel-major logits (the layout point sampling reads fastest).
    assert ours[0].is_contiguous(memory_format=torch.channels_last) == pixel_major
    theirs = _grads(lambda e, f: torch.einsum('bqe,behw->bqhw', e, f), embed, features, grad)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_bf16_autocast_backward_keeps_input_dtypes():
    embed = torch.randn(2, 4, 8, requires_grad=True)
    features = torch.randn(2, 8, 3, 3, requires_grad=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = mask_product(embed, features)
    assert out.dtype == torch.bfloat16
    out[:, :2].float().sum().backward()
    assert embed.grad.dtype == features.grad.dtype == torch.float32
    assert embed.grad[:, 2:].eq(0).all() and embed.grad[:, :2].ne(0).any()


def _stages_loss(product, rows, share, embeds, features, picks, dense_stage):
    """A decoder-like loss: S stages read one feature map; each loss picks rows of its
    stage's logits, one stage also gets a dense loss, and the features one of their own."""
    shared = share(features)
    loss = (features ** 2).sum()
    for stage, embed in enumerate(embeds):
        logits = product(embed, shared)
        batch_idx, query_idx = picks[stage]
        loss = loss + (rows(logits, batch_idx, query_idx) ** 2).sum()
        if stage == dense_stage:
            loss = loss + logits[:, :2].sin().sum()
    return loss


@pytest.mark.parametrize('pixel_major', [False, True])
@pytest.mark.parametrize('share', [True, False])
def test_stages_with_picked_rows_match_einsum_and_indexing(share, pixel_major):
    g = torch.Generator().manual_seed(0)
    num_stages, b, q = 4, 3, 6
    embeds = [torch.randn(b, q, 5, generator=g, dtype=torch.float64) for _ in range(num_stages)]
    features = _stored(torch.randn(b, 5, 4, 6, generator=g, dtype=torch.float64), pixel_major)
    picks = [(torch.tensor([0, 0, 2]), torch.tensor([1, 4, 1])),
             (torch.tensor([2, 0, 2]), torch.tensor([5, 3, 5])),  # query 5 of image 2 twice
             (torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long)),
             (torch.tensor([0]), torch.tensor([2]))]  # image 1 never picked
    results = []
    for product, rows, wrap in [
            (mask_product, mask_rows, shared_features if share else (lambda f: f)),
            (lambda e, f: torch.einsum('bqe,behw->bqhw', e, f),
             lambda m, bi, qi: m[bi, qi], lambda f: f)]:
        leaves = [t.clone().requires_grad_() for t in embeds + [features]]
        loss = _stages_loss(product, rows, wrap, leaves[:-1], leaves[-1], picks, dense_stage=1)
        loss.backward()
        results.append([loss] + [leaf.grad for leaf in leaves])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    if share:  # the shared gradient is formed in the features' own layout
        assert results[0][-1].is_contiguous(
            memory_format=torch.channels_last if pixel_major else torch.contiguous_format)


def test_picked_rows_reach_the_product_without_a_dense_gradient():
    embed = torch.randn(2, 4, 3, requires_grad=True)
    features = torch.randn(2, 3, 5, 5, requires_grad=True)
    logits = mask_product(embed, shared_features(features))
    picked = mask_rows(logits, torch.tensor([1]), torch.tensor([2]))
    assert picked.grad_fn.name() == '_MaskRowsBackward'
    picked.sum().backward()
    assert embed.grad[1, 2].ne(0).all() and embed.grad.ne(0).sum() == 3
    assert features.grad[0].eq(0).all()
    torch.testing.assert_close(features.grad[1], embed[1, 2].detach()[:, None, None].expand(3, 5, 5))
