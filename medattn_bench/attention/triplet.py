"""Triplet attention. Misra, Nalamada, Arasanipalai, Hou, "Rotate to Attend: Convolutional Triplet
Attention Module", WACV 2021 (official: landskape-ai/triplet-attention)."""

from __future__ import annotations

import torch
from torch import nn

from . import register_attention


class _Gate(nn.Module):
    """Z-pool ([max, mean] over dim 1) -> k x k conv (no bias) -> BN -> sigmoid, applied to x."""

    def __init__(self, kernel_size: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(z)))


@register_attention("triplet", paper="Misra et al., Rotate to Attend: Convolutional Triplet Attention, WACV 2021")
class TripletAttention(nn.Module):
    """Mean of three branches: the (C, W) plane seen from H, the (H, C) plane seen from W (both by
    rotating the tensor), and the spatial (H, W) plane, each with its own 7x7 gate.

    Paper symbols: ``kernel_size`` = k (7); ``no_spatial`` drops the third (H, W) branch.
    """

    def __init__(self, channels: int, kernel_size: int = 7, bn_momentum: float = 0.01, no_spatial: bool = False) -> None:
        super().__init__()
        self.cw = _Gate(kernel_size, bn_momentum)
        self.hc = _Gate(kernel_size, bn_momentum)
        self.hw = None if no_spatial else _Gate(kernel_size, bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)  # rotate so H plays channels
        o2 = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)  # rotate so W plays channels
        if self.hw is None:
            return (o1 + o2) / 2
        return (o1 + o2 + self.hw(x)) / 3
