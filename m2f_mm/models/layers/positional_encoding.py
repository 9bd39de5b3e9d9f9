"""Normalised 2-D sine position encoding (DETR style) for unpadded feature maps.

Shape letters: B batch, C channels, H x W feature size, F = C / 2 features per axis.
"""
import math

import torch
from torch import Tensor, nn

__all__ = ['SinePositionalEncoding']


class SinePositionalEncoding(nn.Module):
    """Sine/cosine encoding of normalised (y, x) pixel coordinates.

    Coordinates are the 1-based row/column index divided by the map size
    (plus ``eps``) and scaled to ``[0, scale]``, as in DETR with
    ``normalize=True``. The first F channels encode y, the last F encode x;
    within each half, even channels are sines and odd channels cosines.

    Args:
        num_feats: F, features per axis; the encoding has 2F channels.
        temperature: Base of the geometric frequency progression.
        scale: Range of the normalised coordinates.
        eps: Added to the map size before dividing.
    """

    def __init__(self, num_feats: int = 128, temperature: float = 10000.0,
                 scale: float = 2 * math.pi, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_feats = num_feats
        self.temperature = temperature
        self.scale = scale
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """Encode the positions of a feature map.

        Args:
            x: (B, C, H, W) feature map; only its shape, device and dtype are used.

        Returns:
            (B, 2F, H, W) position encoding in ``x.dtype``.
        """
        b, _, h, w = x.shape
        y = torch.arange(1, h + 1, dtype=torch.float32, device=x.device)
        xs = torch.arange(1, w + 1, dtype=torch.float32, device=x.device)
        y = y / (h + self.eps) * self.scale
        xs = xs / (w + self.eps) * self.scale
        dim_t = torch.arange(self.num_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / self.num_feats)
        pos_y = self._interleave_sin_cos(y[:, None] / dim_t)  # (H, F)
        pos_x = self._interleave_sin_cos(xs[:, None] / dim_t)  # (W, F)
        pos = torch.cat([pos_y[:, None, :].expand(h, w, -1),
                         pos_x[None, :, :].expand(h, w, -1)], dim=-1)  # (H, W, 2F)
        return pos.permute(2, 0, 1).unsqueeze(0).expand(b, -1, -1, -1).to(x.dtype)

    @staticmethod
    def _interleave_sin_cos(t: Tensor) -> Tensor:
        """(N, F) -> (N, F): sin on even channels, cos on odd channels."""
        return torch.stack([t[:, 0::2].sin(), t[:, 1::2].cos()], dim=-1).flatten(1)

    def extra_repr(self) -> str:
        return f'num_feats={self.num_feats}, temperature={self.temperature}, scale={self.scale:.4f}'
