"""Post-norm transformer blocks shared by the decoders and the plain encoder.

Shape letters: B batch, Q queries (or tokens), S keys, C embed_dims, N heads.

Each block is ``norm(x + dropout(f(x)))``. ``nn.MultiheadAttention`` with
``need_weights=False`` dispatches to the fused scaled-dot-product kernel and
falls back to the exact math path by itself, so that choice is made in one
place (torch). The attention modules carry the reference checkpoints' names.
"""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['CrossAttentionLayer', 'SelfAttentionLayer', 'FFNLayer', 'MLP']


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
            attn_mask: (B * N, Q, S) bool, True where attention is blocked; None
                attends everywhere.

        Returns:
            (B, Q, C).
        """
        out = attn(x + x_pos, memory + memory_pos, memory, attn_mask=attn_mask,
                   need_weights=False)[0]
        return self.norm(x + self.dropout(out))


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
