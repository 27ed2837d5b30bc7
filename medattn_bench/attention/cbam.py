"""CBAM. Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018.

Follows the official code (Jongchan/attention-module): the channel MLP's Linear layers carry a
bias, pooling order is avg then max, and the spatial gate is a 7x7 conv without bias followed by
BatchNorm (momentum 0.01) whose weight starts at 0, so the spatial gate starts at sigmoid(0)=0.5.
timm differs: MLP without bias and mean/max order.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention
from .se import reduced_channels


class ChannelGate(nn.Module):
    """``Mc(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F)))`` with a shared MLP C -> C/r -> C."""

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, pool_types: tuple[str, ...] = ("avg", "max")) -> None:
        super().__init__()
        rd = reduced_channels(channels, rd_ratio)
        self.mlp = nn.Sequential(nn.Linear(channels, rd), nn.ReLU(inplace=True), nn.Linear(rd, channels))
        bad = set(pool_types) - {"avg", "max"}
        if bad or not pool_types:
            raise ValueError(f"pool_types must be a non-empty subset of ('avg', 'max'), got {pool_types!r}")
        self.pool_types = tuple(pool_types)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = 0
        for p in self.pool_types:
            v = x.mean(dim=(2, 3)) if p == "avg" else x.amax(dim=(2, 3))
            att = att + self.mlp(v)
        return x * torch.sigmoid(att)[:, :, None, None]


class ZPoolGate(nn.Module):
    """Z-pool gate shared by CBAM's spatial gate and triplet attention:
    ``x * sigmoid(BN(conv_kxk([max_c(x); mean_c(x)])))``, pooled over dim 1, conv without bias."""

    def __init__(self, kernel_size: int = 7, bn_momentum: float = 0.01) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


class SpatialGate(ZPoolGate):
    """``Ms(F) = sigmoid(BN(conv7x7([MaxPool_c(F); AvgPool_c(F)])))``; pooling is over channels."""

    def __init__(self, kernel_size: int = 7, bn_momentum: float = 0.01) -> None:
        super().__init__(kernel_size, bn_momentum)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        # Official init: the spatial gate's BN weight is 0, so the gate starts at 0.5 everywhere.
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)


@register_attention("cbam", paper="Woo et al., CBAM: Convolutional Block Attention Module, ECCV 2018")
class CBAM(nn.Module):
    """Channel gate then spatial gate. ``rd_ratio`` = 1/r (r = 16), ``spatial_kernel_size`` = 7."""

    def __init__(
        self,
        channels: int,
        rd_ratio: float = 1 / 16,
        spatial_kernel_size: int = 7,
        bn_momentum: float = 0.01,
        pool_types: tuple[str, ...] = ("avg", "max"),
        no_spatial: bool = False,
    ) -> None:
        super().__init__()
        self.channel = ChannelGate(channels, rd_ratio, tuple(pool_types))
        self.spatial = nn.Identity() if no_spatial else SpatialGate(spatial_kernel_size, bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))
