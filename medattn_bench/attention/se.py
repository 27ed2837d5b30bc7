"""Squeeze-and-Excitation. Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention


def reduced_channels(channels: int, rd_ratio: float, rd_divisor: int = 1) -> int:
    """Hidden width ``C * rd_ratio``; the official code uses ``C // r`` (divisor 1), timm rounds to 8."""
    if not 0 < rd_ratio <= 1:
        raise ValueError(f"rd_ratio must be in (0, 1] (the hidden width is channels x rd_ratio), got {rd_ratio}")
    if rd_divisor < 1:
        raise ValueError(f"rd_divisor must be >= 1, got {rd_divisor}")
    rd = int(channels * rd_ratio)
    if rd_divisor > 1:
        rd = max(rd_divisor, int(rd + rd_divisor / 2) // rd_divisor * rd_divisor)
    return max(1, rd)


@register_attention("se", paper="Hu et al., Squeeze-and-Excitation Networks, CVPR 2018")
class SqueezeExcite(nn.Module):
    """SE gate: ``x * sigmoid(W2 relu(W1 avgpool(x) + b1) + b2)``.

    Paper symbols: ``channels`` = C, ``rd_ratio`` = 1/r (r = 16 in the paper), W1 is C/r x C,
    W2 is C x C/r. The official (Caffe) release uses fully connected layers with bias and the
    hidden width ``C // r``; timm rounds the width to a multiple of 8 (``rd_divisor=8`` here).
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, rd_divisor: int = 1) -> None:
        super().__init__()
        rd = reduced_channels(channels, rd_ratio, rd_divisor)
        self.fc1 = nn.Linear(channels, rd)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(rd, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))
        g = torch.sigmoid(self.fc2(self.act(self.fc1(s))))
        return x * g[:, :, None, None]
