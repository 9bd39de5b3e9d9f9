"""mask_product equals einsum forward and backward, however sparse the gradient."""
import pytest
import torch

from m2f_mm.models.layers.mask_product import mask_product


def _grads(fn, embed, features, grad):
    embed, features = embed.clone().requires_grad_(), features.clone().requires_grad_()
    out = fn(embed, features)
    out.backward(grad)
    return out, embed.grad, features.grad


@pytest.mark.parametrize('rows', ['none', 'some', 'all'])
def test_matches_einsum(rows):
    g = torch.Generator().manual_seed(0)
    embed = torch.randn(3, 7, 5, generator=g, dtype=torch.float64)
    features = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64)
    grad = torch.randn(3, 7, 4, 6, generator=g, dtype=torch.float64)
    keep = {'none': torch.zeros(3, 7, dtype=torch.bool), 'all': torch.ones(3, 7, dtype=torch.bool),
            'some': torch.rand(3, 7, generator=g) < 0.3}[rows]
    keep[1] = False  # an image without any matched query
    grad = grad * keep[..., None, None]
    ours = _grads(mask_product, embed, features, grad)
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
