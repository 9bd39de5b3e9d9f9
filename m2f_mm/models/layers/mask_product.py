"""Mask logits as query embeddings times per-pixel embeddings, with a sparse backward.

Shape letters: B batch, Q queries, E embedding channels, h x w per-pixel
embedding size, R rows (image, query) with a non-zero gradient.

Every decoder stage predicts the masks of all Q queries (the matcher and the
next layer's attention need them), but the mask losses reach only the matched
queries: the gradient arriving at the (B, Q, h, w) logits is zero outside a
few rows. The backward here multiplies only those rows, which is exact (the
skipped rows contribute exact zeros) and saves most of the two backward
products, each as large as the forward.
"""
import torch
from torch import Tensor
from torch.autograd.function import Function, once_differentiable

__all__ = ['mask_product']


def mask_product(embed: Tensor, features: Tensor) -> Tensor:
    """``einsum('bqe,behw->bqhw', embed, features)``.

    Args:
        embed: (B, Q, E) mask embeddings of the queries.
        features: (B, E, h, w) per-pixel embeddings.

    Returns:
        (B, Q, h, w) mask logits.
    """
    return _MaskProduct.apply(embed, features)


class _MaskProduct(Function):

    @staticmethod
    def forward(ctx, embed: Tensor, features: Tensor) -> Tensor:
        ctx.save_for_backward(embed, features)
        ctx.embed_dtype = embed.dtype
        return torch.einsum('bqe,behw->bqhw', embed, features)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple:
        embed, features = ctx.saved_tensors
        b, e, h, w = features.shape
        grad = grad.reshape(b, grad.shape[1], h * w)  # (B, Q, hw)
        # Under autocast the inputs may differ in dtype; multiply in the gradient's.
        embed = embed.to(grad.dtype)
        flat_features = features.reshape(b, e, h * w)
        rows = grad.ne(0).any(-1).nonzero().unbind(1)  # R (image, query) pairs
        grad_embed = (torch.zeros_like(embed, dtype=ctx.embed_dtype) if ctx.needs_input_grad[0]
                      else None)
        # Written image by image without a zero fill: at (B, E, hw) it is a large buffer.
        grad_features = (flat_features.new_empty(flat_features.shape, dtype=grad.dtype)
                         if ctx.needs_input_grad[1] else None)
        for image in range(b):
            queries = rows[1][rows[0] == image]
            if len(queries) == 0:
                if grad_features is not None:
                    grad_features[image].zero_()
                continue
            grad_rows = grad[image, queries]  # (R_b, hw)
            if grad_embed is not None:
                grad_embed[image, queries] = (grad_rows @ flat_features[image].T.to(grad.dtype)
                                              ).to(grad_embed.dtype)
            if grad_features is not None:
                torch.matmul(embed[image, queries].T, grad_rows, out=grad_features[image])
        if grad_features is not None:
            grad_features = grad_features.view_as(features)
        return grad_embed, grad_features
