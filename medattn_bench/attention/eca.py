"""ECA. Wang, Wu, Zhu, Li, Zuo, Hu, "ECA-Net: Efficient Channel Attention for Deep Convolutional
Neural Networks", CVPR 2020 (official: BangguWu/ECANet)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import register_attention


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """Adaptive k = |log2(C)/gamma + b/gamma|, rounded to the nearest odd number (paper eq. 12)."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@register_attention("eca", paper="Wang et al., ECA-Net: Efficient Channel Attention, CVPR 2020")
class ECA(nn.Module):
    """``x * sigmoid(conv1d_k(GAP(x)))``: a k-tap 1-D conv across channels, no bias, no reduction.

    Paper symbols: ``gamma`` = gamma, ``b`` = b of the adaptive kernel size; ``kernel_size``
    overrides k (the official ImageNet models use k = 3 for every stage; the adaptive rule gives
    3 for C = 64 and 5 for C = 128..512).
    """

    def __init__(self, channels: int, kernel_size: int | None = None, gamma: float = 2, b: float = 1) -> None:
        super().__init__()
        k = kernel_size or eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))[:, None, :]  # N, 1, C
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]
