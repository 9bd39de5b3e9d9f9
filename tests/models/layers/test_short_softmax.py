"""short_softmax against torch's softmax: values and gradients, large and masked-like inputs."""
import torch

from m2f_mm.models.layers.short_softmax import short_softmax


def test_equals_softmax_and_its_gradient():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 3, 12, generator=gen, dtype=torch.float64) * 5
    x[0, 0, 0] += 800  # large logits: the max shift keeps exp finite
    grad = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    ours, ref = (x.clone().requires_grad_() for _ in range(2))
    out, expected = short_softmax(ours), ref.softmax(-1)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(out, expected, atol=1e-15, rtol=0)
    torch.testing.assert_close(ours.grad, ref.grad, atol=1e-14, rtol=0)
    assert torch.isfinite(out).all()


def test_gradcheck():
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(short_softmax, (x,))
