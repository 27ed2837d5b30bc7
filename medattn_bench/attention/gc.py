"""Global Context block. Cao, Xu, Lin, Wei, Hu, "GCNet: Non-local Networks Meet Squeeze-Excitation
Networks and Beyond", ICCV Workshops 2019 (official: xvjiarui/GCNet, ``ContextBlock``).

Defaults follow the official classification setting: attention pooling, additive
('channel_add') fusion, ratio 1/16, last transform conv zero-initialised so the block starts as
the identity. timm's ``gc`` instead uses multiplicative fusion with ratio 1/8 (``fusion='mul'``).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention
from .se import reduced_channels


@register_attention("gc", paper="Cao et al., GCNet: Non-local Networks Meet Squeeze-Excitation Networks, ICCVW 2019")
class GlobalContext(nn.Module):
    """``z = x + W_v2 ReLU(LN(W_v1 sum_j softmax(W_k x)_j x_j))`` (fusion 'add').

    Paper symbols: ``W_k`` = ``conv_mask`` (C -> 1), ``W_v1`` / ``W_v2`` = the bottleneck transform
    C -> C*r -> C with ``rd_ratio`` = r; ``pooling='avg'`` replaces the softmax context with
    global average pooling; ``fusion='mul'`` multiplies ``x`` by ``sigmoid(transform)``.
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, pooling: str = "att", fusion: str = "add") -> None:
        super().__init__()
        if pooling not in ("att", "avg"):
            raise ValueError(f"pooling must be 'att' or 'avg', got {pooling!r}")
        if fusion not in ("add", "mul"):
            raise ValueError(f"fusion must be 'add' or 'mul', got {fusion!r}")
        self.pooling, self.fusion = pooling, fusion
        rd = reduced_channels(channels, rd_ratio)
        self.conv_mask = nn.Conv2d(channels, 1, 1) if pooling == "att" else None
        self.transform = nn.Sequential(
            nn.Conv2d(channels, rd, 1),
            nn.LayerNorm([rd, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(rd, channels, 1),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.conv_mask is not None:
            nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(self.conv_mask.bias)
        if self.fusion == "add":
            # Official last_zero_init: the block is the identity at initialisation.
            nn.init.zeros_(self.transform[-1].weight)
            nn.init.zeros_(self.transform[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if self.conv_mask is not None:
            attn = torch.softmax(self.conv_mask(x).reshape(n, 1, h * w), dim=-1)  # N,1,HW
            context = torch.bmm(x.reshape(n, c, h * w), attn.transpose(1, 2))  # N,C,1
            context = context.reshape(n, c, 1, 1)
        else:
            context = x.mean(dim=(2, 3), keepdim=True)
        t = self.transform(context)
        return x + t if self.fusion == "add" else x * torch.sigmoid(t)
