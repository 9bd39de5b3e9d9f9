"""Post-norm transformer blocks shared by the decoders and the plain encoder.

Shape letters: B batch, Q queries (or tokens), S keys, C embed_dims, N heads.

Each block is ``norm(x + dropout(f(x)))``. The attentions keep
``nn.MultiheadAttention`` modules, whose parameters carry the reference
checkpoints' names, and run them through :func:`multi_head_attention`:
``F.scaled_dot_product_attention`` picks the fused kernel or the exact math
path by itself, so that choice is made in one place (torch).
"""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['multi_head_attention', 'CrossAttentionLayer', 'SelfAttentionLayer', 'FFNLayer', 'MLP']


class _ResidualAttention(nn.Module):
    """``norm(x + dropout(attn(x + x_pos, mem + mem_pos, mem)))``."""

    def __init__(self, embed_dims: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)

    def _attend(self, attn: nn.MultiheadAttention, x: Tensor, x_pos: Tensor, memory: Tensor,
                memory_pos: Tensor, attn_mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            attn: The attention module.
            x: (B, Q, C) queries.
            x_pos: (B, Q, C) query position embedding.
            memory: (B, S, C) keys/values (S = Q for self-attention).
            memory_pos: (B, S, C) key position embedding.
            attn_mask: (B, Q, S) bool, True where attention is blocked, shared by
                the heads; None attends everywhere.

        Returns:
            (B, Q, C).
        """
        out = multi_head_attention(attn, x + x_pos, memory + memory_pos, memory, attn_mask)
        return self.norm(x + self.dropout(out))


def multi_head_attention(attn: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor,
                         blocked: Optional[Tensor] = None) -> Tensor:
    """``attn(query, key, value, attn_mask=..., need_weights=False)[0]`` for a
    batch-first module with packed projections, with one mask for all heads.

    ``nn.MultiheadAttention`` takes a (B * N, Q, S) mask and expands it to a
    float mask of that size, which the attention's backward keeps: 26 MB a
    layer at the 1/8 level of two 512 x 512 images. A (B, 1, Q, S) mask
    broadcast over the heads is N times smaller.

    Args:
        attn: The module (its projections, heads and dropout).
        query: (B, Q, C).
        key: (B, S, C).
        value: (B, S, C).
        blocked: (B, Q, S) bool, True where attention is blocked.

    Returns:
        (B, Q, C).
    """
    b, q, c = query.shape
    n = attn.num_heads
    weights = attn.in_proj_weight.chunk(3)
    biases = attn.in_proj_bias.chunk(3) if attn.in_proj_bias is not None else (None,) * 3
    q_h, k_h, v_h = (F.linear(t, w, bias).view(b, t.shape[1], n, c // n).transpose(1, 2)
                     for t, w, bias in zip((query, key, value), weights, biases))
    allowed = None if blocked is None else ~blocked[:, None]  # (B, 1, Q, S)
    out = F.scaled_dot_product_attention(q_h, k_h, v_h, attn_mask=allowed,
                                         dropout_p=attn.dropout if attn.training else 0.0)
    return attn.out_proj(out.transpose(1, 2).reshape(b, q, c))


class CrossAttentionLayer(_ResidualAttention):
    """Cross-attention from the queries to a feature map, optionally masked."""

    def __init__(self, embed_dims: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__(embed_dims, dropout)
        self.multihead_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                                    batch_first=True)

    def forward(self, x: Tensor, x_pos: Tensor, memory: Tensor, memory_pos: Tensor,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """See :meth:`_ResidualAttention._attend`."""
        return self._attend(self.multihead_attn, x, x_pos, memory, memory_pos, attn_mask)


class SelfAttentionLayer(_ResidualAttention):
    """Self-attention; position added to queries and keys, not values."""

    def __init__(self, embed_dims: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__(embed_dims, dropout)
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                               batch_first=True)

    def forward(self, x: Tensor, x_pos: Tensor) -> Tensor:
        """(B, Q, C) tokens and their position embedding -> (B, Q, C)."""
        return self._attend(self.self_attn, x, x_pos, x, x_pos)


class FFNLayer(nn.Module):
    """``norm(x + dropout(linear2(dropout(relu(linear1(x))))))``."""

    def __init__(self, embed_dims: int, ffn_channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(embed_dims, ffn_channels)
        self.linear2 = nn.Linear(ffn_channels, embed_dims)
        self.norm = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, Q, C) -> (B, Q, C)."""
        return self.norm(x + self.dropout(self.linear2(self.dropout(F.relu(self.linear1(x))))))


class MLP(nn.Module):
    """Linear layers with ReLU between them (none after the last)."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int) -> None:
        super().__init__()
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_channels) -> (..., out_channels)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x
