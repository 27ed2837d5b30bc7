"""Gather-Excite. Hu, Shen, Albanie, Sun, Vedaldi, "Gather-Excite: Exploiting Feature Context in
Convolutional Neural Networks", NeurIPS 2018."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import register_attention


@register_attention("gather_excite", paper="Hu et al., Gather-Excite, NeurIPS 2018")
class GatherExcite(nn.Module):
    """``x * sigmoid(interp(gather(x)))``.

    Paper symbols: ``extent`` = e (0 means global, the paper's best parameter-free GE-theta^-);
    ``extra_params`` = GE-theta, where the gather is a chain of log2(e) depthwise 3x3 stride-2
    convs with BN (ReLU between) instead of average pooling. timm's default adds an SE-like MLP
    (GE-theta+), which is not the parameter-free default used here.
    """

    def __init__(self, channels: int, extent: int = 0, extra_params: bool = False) -> None:
        super().__init__()
        if extent < 0 or (extent and extent & (extent - 1)):
            raise ValueError(f"extent must be 0 (global) or a power of two, got {extent}")
        if extra_params and extent == 0:
            raise ValueError("extra_params (GE-theta) needs a finite extent (2, 4, 8, ...)")
        self.extent = extent
        layers: list[nn.Module] = []
        if extra_params:
            for i in range(int(math.log2(extent))):
                layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1, groups=channels, bias=False),
                           nn.BatchNorm2d(channels)]
                if i < int(math.log2(extent)) - 1:
                    layers.append(nn.ReLU(inplace=True))
        self.gather = nn.Sequential(*layers) if layers else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.extent == 0:
            g = x.mean(dim=(2, 3), keepdim=True)
        elif self.gather is not None:
            g = self.gather(x)
        else:
            g = F.avg_pool2d(x, self.extent, stride=self.extent, ceil_mode=True)
        if g.shape[-2:] != x.shape[-2:]:
            g = F.interpolate(g, size=x.shape[-2:], mode="nearest")
        return x * torch.sigmoid(g)
