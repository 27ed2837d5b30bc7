"""SRM. Lee, Kim, Nam, "SRM: A Style-based Recalibration Module for Convolutional Neural
Networks", ICCV 2019 (official: hyunjaelee410/style-based-recalibration-module)."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention


@register_attention("srm", paper="Lee et al., SRM: A Style-based Recalibration Module, ICCV 2019")
class SRM(nn.Module):
    """Style pooling (channel mean and std) -> channel-wise fully connected (CFC, a learned weight
    pair per channel, no bias) -> BatchNorm -> sigmoid gate.

    Paper symbols: t = [mu, sigma] per channel, W (C x 2) = ``cfc``; official init fills the CFC
    weights with 0 (gate starts at sigmoid(BN(0))).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.cfc = nn.Parameter(torch.zeros(channels, 2))
        self.bn = nn.BatchNorm2d(channels)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        flat = x.reshape(n, c, -1)
        mean = flat.mean(-1)
        std = (flat.var(-1, unbiased=True) + self.eps).sqrt()
        z = mean * self.cfc[:, 0] + std * self.cfc[:, 1]
        return x * torch.sigmoid(self.bn(z[:, :, None, None]))
