"""Criss-cross attention. Huang, Wang, Huang, Huang, Wei, Liu, "CCNet: Criss-Cross Attention for
Semantic Segmentation", ICCV 2019 (official: speedinghzl/CCNet)."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention


@register_attention("criss_cross", paper="Huang et al., CCNet: Criss-Cross Attention, ICCV 2019")
class CrissCross(nn.Module):
    """Each position attends to the positions in its row and column (H + W - 1 of them):
    ``x + gamma * sum_j softmax_j(q_i . k_j) v_j``, applied ``recurrence`` times with shared weights
    (R = 2 in the paper's RCCA covers the full image).

    Paper symbols: query/key convs C -> C/8 (``qk_ratio``), value conv C -> C, ``gamma`` starts at 0
    (identity at initialisation).
    """

    def __init__(self, channels: int, qk_ratio: float = 1 / 8, recurrence: int = 2) -> None:
        super().__init__()
        qk = max(1, int(channels * qk_ratio))
        self.query = nn.Conv2d(channels, qk, 1)
        self.key = nn.Conv2d(channels, qk, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.recurrence = recurrence

    def _once(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.query(x), self.key(x), self.value(x)
        e_h = torch.einsum("nchw,ncgw->nhwg", q, k)  # along the column: (h, w) vs (g, w)
        e_w = torch.einsum("nchw,nchg->nhwg", q, k)  # along the row: (h, w) vs (h, g)
        # The position itself is in both its row and its column; count it once (in the row).
        e_h = e_h.masked_fill(torch.eye(h, dtype=torch.bool, device=x.device)[None, :, None, :], float("-inf"))
        attn = torch.softmax(torch.cat([e_h, e_w], dim=-1), dim=-1)
        a_h, a_w = attn[..., :h], attn[..., h:]
        out = torch.einsum("nhwg,ncgw->nchw", a_h, v) + torch.einsum("nhwg,nchg->nchw", a_w, v)
        return self.gamma * out + x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.recurrence):
            x = self._once(x)
        return x
