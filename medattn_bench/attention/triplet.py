"""Triplet attention. Misra, Nalamada, Arasanipalai, Hou, "Rotate to Attend: Convolutional Triplet
Attention Module", WACV 2021 (official: landskape-ai/triplet-attention)."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention
from .cbam import ZPoolGate


@register_attention("triplet", paper="Misra et al., Rotate to Attend: Convolutional Triplet Attention, WACV 2021")
class TripletAttention(nn.Module):
    """Mean of three branches: the (C, W) plane seen from H, the (H, C) plane seen from W (both by
    rotating the tensor), and the spatial (H, W) plane, each with its own 7x7 gate.

    Paper symbols: ``kernel_size`` = k (7); ``no_spatial`` drops the third (H, W) branch.
    """

    def __init__(self, channels: int, kernel_size: int = 7, bn_momentum: float = 0.01, no_spatial: bool = False) -> None:
        super().__init__()
        self.cw = ZPoolGate(kernel_size, bn_momentum)
        self.hc = ZPoolGate(kernel_size, bn_momentum)
        self.hw = None if no_spatial else ZPoolGate(kernel_size, bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)  # rotate so H plays channels
        o2 = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)  # rotate so W plays channels
        if self.hw is None:
            return (o1 + o2) / 2
        return (o1 + o2 + self.hw(x)) / 3
