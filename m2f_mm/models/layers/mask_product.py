"""Mask logits as query embeddings times per-pixel embeddings, with a sparse backward.

Shape letters: B batch, Q queries, E embedding channels, h x w per-pixel
embedding size, R rows (image, query) with a gradient.

Every decoder stage predicts the masks of all Q queries (the matcher and the
next layer's attention need them), but the mask losses reach only the matched
queries: a few rows of each stage's (B, Q, h, w) logits. Three functions keep
the backward at the size of those rows:

- ``mask_product`` computes a stage's logits; its backward multiplies only the
  rows that received a gradient.
- ``mask_rows`` picks rows of a stage's logits for a loss. Its backward hands
  their gradient to the stage's product directly, instead of scattering it
  into a (B, Q, h, w) zero tensor that the product would then scan.
- ``shared_features`` wraps the per-pixel embedding that every stage reads.
  The stages leave it their (embedding rows, gradient rows), and it forms the
  feature gradient once, with one product per image over the rows of all
  stages, instead of one (B, E, h, w) buffer per stage summed by autograd.

All three are exact: the rows they skip contribute exact zeros.

A per-pixel embedding stored pixel-major (channels-last, as
:class:`~m2f_mm.models.layers.pointwise_conv.PixelMajorConv2d` writes it) is
multiplied as (hw, E) x (E, Q), about twice as fast on CPU as
(Q, E) x (E, hw), and its logits come out pixel-major too, which point sampling
reads about three times as fast; its gradient keeps that layout.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import Function, once_differentiable

from .pointwise_conv import from_pixel_rows, is_pixel_major, pixel_rows

__all__ = ['mask_product', 'mask_rows', 'shared_features']


def mask_product(embed: Tensor, features: Tensor) -> Tensor:
    """``einsum('bqe,behw->bqhw', embed, features)``.

    Args:
        embed: (B, Q, E) mask embeddings of the queries.
        features: (B, E, h, w) per-pixel embeddings, best wrapped once by
            :func:`shared_features` when several stages read them.

    Returns:
        (B, Q, h, w) mask logits.
    """
    return _MaskProduct.apply(embed, features)


def mask_rows(mask_logits: Tensor, batch_idx: Tensor, query_idx: Tensor) -> Tensor:
    """``mask_logits[batch_idx, query_idx]``, sparse in backward for ``mask_product``'s logits.

    Args:
        mask_logits: (B, Q, h, w).
        batch_idx: (R,) long image index of each row.
        query_idx: (R,) long query index of each row.

    Returns:
        (R, h, w) the rows.
    """
    product = mask_logits.grad_fn
    if isinstance(product, _MaskProduct._backward_cls):
        return _MaskRows.apply(mask_logits, batch_idx, query_idx, product)
    return mask_logits[batch_idx, query_idx]


def shared_features(features: Tensor) -> Tensor:
    """``features`` (B, E, h, w), as a view whose gradient the mask products form together."""
    return _SharedFeatures.apply(features)


class _SharedFeatures(Function):

    @staticmethod
    def forward(ctx, features: Tensor) -> Tensor:
        ctx.set_materialize_grads(False)
        ctx.features_shape = features.shape
        ctx.pixel_major = is_pixel_major(features)
        ctx.pending = []  # (image, embedding rows (R, E), gradient rows (R, hw)) per stage
        return features.view_as(features)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Optional[Tensor]) -> Optional[Tensor]:
        pending, ctx.pending = ctx.pending, []
        if not pending:
            return grad
        b, e, h, w = ctx.features_shape
        dtype = pending[0][2].dtype
        # Written image by image without a zero fill: at (B, E, hw) it is a large buffer.
        grad_features = pending[0][2].new_empty((b, h * w, e) if ctx.pixel_major
                                                else (b, e, h * w))
        for image in range(b):
            embeds = [r[1] for r in pending if r[0] == image]
            if not embeds:
                grad_features[image].zero_()
                continue
            grad_rows = torch.cat([r[2].to(dtype) for r in pending if r[0] == image])
            embeds = torch.cat(embeds).to(dtype)
            if ctx.pixel_major:
                torch.matmul(grad_rows.T, embeds, out=grad_features[image])
            else:
                torch.matmul(embeds.T, grad_rows, out=grad_features[image])
        grad_features = (from_pixel_rows(grad_features, h, w) if ctx.pixel_major
                         else grad_features.view(b, e, h, w))
        return grad_features if grad is None else grad_features.add_(grad.to(dtype))


class _MaskProduct(Function):

    @staticmethod
    def forward(ctx, embed: Tensor, features: Tensor) -> Tensor:
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(embed, features)
        ctx.embed_dtype = embed.dtype
        ctx.picked_rows = []  # (batch_idx, query_idx, gradient (R, h, w)) from mask_rows
        shared = features.grad_fn
        ctx.shared = shared if isinstance(shared, _SharedFeatures._backward_cls) else None
        b, e, h, w = features.shape
        # bmm: einsum's route to the same product is about 1.4x slower on CPU.
        if is_pixel_major(features):
            return from_pixel_rows(torch.bmm(pixel_rows(features), embed.transpose(1, 2)), h, w)
        return torch.bmm(embed, features.reshape(b, e, h * w)).view(b, -1, h, w)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Optional[Tensor]) -> tuple:
        embed, features = ctx.saved_tensors
        b, e, h, w = features.shape
        rows = _rows_by_image(grad, ctx.picked_rows, b, h * w)
        ctx.picked_rows = []
        flat_features = features.reshape(b, e, h * w)
        grad_embed = (torch.zeros_like(embed, dtype=ctx.embed_dtype) if ctx.needs_input_grad[0]
                      else None)
        if grad_embed is not None:
            for image, (queries, grad_rows) in enumerate(rows):
                if len(queries):
                    grad_embed[image].index_add_(0, queries, (
                        grad_rows @ flat_features[image].T.to(grad_rows.dtype)
                    ).to(grad_embed.dtype))
        if not ctx.needs_input_grad[1]:
            return grad_embed, None
        if ctx.shared is not None:
            ctx.shared.pending.extend(
                (image, embed[image, queries], grad_rows)
                for image, (queries, grad_rows) in enumerate(rows) if len(queries))
            return grad_embed, None
        dtype = next((g.dtype for q, g in rows if len(q)), features.dtype)
        grad_features = flat_features.new_empty(flat_features.shape, dtype=dtype)
        for image, (queries, grad_rows) in enumerate(rows):
            if len(queries) == 0:
                grad_features[image].zero_()
                continue
            # Under autocast the inputs may differ in dtype; multiply in the gradient's.
            torch.matmul(embed[image, queries].to(dtype).T, grad_rows.to(dtype),
                         out=grad_features[image])
        return grad_embed, grad_features.view_as(features)


class _MaskRows(Function):

    @staticmethod
    def forward(ctx, mask_logits: Tensor, batch_idx: Tensor, query_idx: Tensor,
                product) -> Tensor:
        ctx.set_materialize_grads(False)
        ctx.rows = (batch_idx, query_idx)
        ctx.product = product
        return mask_logits[batch_idx, query_idx]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Optional[Tensor]) -> tuple:
        if grad is not None:
            ctx.product.picked_rows.append((*ctx.rows, grad))
        return None, None, None, None


def _rows_by_image(grad: Optional[Tensor], picked_rows: List[Tuple[Tensor, Tensor, Tensor]],
                   b: int, hw: int) -> List[Tuple[Tensor, Tensor]]:
    """Per image, the (R_b,) queries and (R_b, hw) gradient rows that reached a product:
    the non-zero rows of a dense gradient (B, Q, h, w), then the rows picked by
    ``mask_rows``. A query may appear more than once; its rows add up."""
    per_image = [([], []) for _ in range(b)]
    if grad is not None:
        grad = grad.reshape(b, grad.shape[1], hw)
        image_idx, query_idx = grad.ne(0).any(-1).nonzero().unbind(1)
        for image in range(b):
            queries = query_idx[image_idx == image]
            per_image[image][0].append(queries)
            per_image[image][1].append(grad[image, queries])
    for batch_idx, query_idx, rows in picked_rows:
        for image in range(b):
            selected = batch_idx == image
            per_image[image][0].append(query_idx[selected])
            per_image[image][1].append(rows[selected].reshape(-1, hw))
    return [(torch.cat(q), torch.cat(g)) if q else (torch.zeros(0, dtype=torch.long), None)
            for q, g in per_image]
