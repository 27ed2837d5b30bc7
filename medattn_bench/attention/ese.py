"""Effective SE. Lee, Park, "CenterMask: Real-Time Anchor-Free Instance Segmentation", CVPR 2020
(eSE in VoVNetV2, official: youngwanLEE/CenterMask)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import register_attention


@register_attention("ese", paper="Lee & Park, CenterMask (VoVNetV2 effective SE), CVPR 2020")
class EffectiveSE(nn.Module):
    """``x * hsigmoid(W GAP(x) + b)`` with one full C x C 1x1 conv: SE without the reduction, which
    the paper argues loses channel information. Hard sigmoid is ``relu6(x + 3) / 6``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (F.relu6(self.fc(x.mean(dim=(2, 3), keepdim=True)) + 3) / 6)
