"""Coordinate Attention. Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network
Design", CVPR 2021 (official: houqb/CoordAttention)."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention
from .se import reduced_channels


@register_attention("coord", paper="Hou et al., Coordinate Attention, CVPR 2021")
class CoordAttention(nn.Module):
    """Pool along W and along H, concatenate, shared 1x1 conv (C -> mip) + BN + h-swish, split,
    two 1x1 convs (mip -> C) with sigmoid: ``x * a_h * a_w``.

    Paper symbols: ``rd_ratio`` = 1/r (official r = 32), mip = max(``min_channels`` = 8, C / r).
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 32, min_channels: int = 8) -> None:
        super().__init__()
        mip = max(min_channels, reduced_channels(channels, rd_ratio))
        self.conv1 = nn.Conv2d(channels, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, channels, 1)
        self.conv_w = nn.Conv2d(mip, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x_h = x.mean(dim=3, keepdim=True)  # N, C, H, 1
        x_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # N, C, W, 1
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        y_h, y_w = torch.split(y, [h, w], dim=2)
        a_h = torch.sigmoid(self.conv_h(y_h))  # N, C, H, 1
        a_w = torch.sigmoid(self.conv_w(y_w.transpose(2, 3)))  # N, C, 1, W
        return x * a_h * a_w
