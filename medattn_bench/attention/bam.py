"""BAM. Park, Woo, Lee, Kweon, "BAM: Bottleneck Attention Module", BMVC 2018 (official:
Jongchan/attention-module). Placed at the bottlenecks between stages, not in every block."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention
from .se import reduced_channels


@register_attention("bam", paper="Park et al., BAM: Bottleneck Attention Module, BMVC 2018", placement="stage_end")
class BAM(nn.Module):
    """``x * (1 + sigmoid(Mc(x) combine Ms(x)))``.

    Channel branch Mc: GAP -> Linear C -> C/r -> BN1d -> ReLU -> Linear -> C. Spatial branch Ms:
    1x1 conv C -> C/r (BN, ReLU), two 3x3 convs with dilation d (BN, ReLU), 1x1 conv -> 1.
    Paper symbols: ``rd_ratio`` = 1/r (r = 16), ``dilation`` = d (4). The paper combines the branches by
    a sum; the official code multiplies them (``combine='mul'``, the default here).
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, dilation: int = 4, combine: str = "mul") -> None:
        super().__init__()
        if combine not in ("mul", "sum"):
            raise ValueError(f"combine must be 'mul' (official code) or 'sum' (paper), got {combine!r}")
        rd = reduced_channels(channels, rd_ratio)
        self.channel = nn.Sequential(nn.Linear(channels, rd), nn.BatchNorm1d(rd), nn.ReLU(inplace=True), nn.Linear(rd, channels))
        layers: list[nn.Module] = [nn.Conv2d(channels, rd, 1), nn.BatchNorm2d(rd), nn.ReLU(inplace=True)]
        for _ in range(2):
            layers += [nn.Conv2d(rd, rd, 3, padding=dilation, dilation=dilation), nn.BatchNorm2d(rd), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(rd, 1, 1))
        self.spatial = nn.Sequential(*layers)
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mc = self.channel(x.mean(dim=(2, 3)))[:, :, None, None]
        ms = self.spatial(x)
        att = mc * ms if self.combine == "mul" else mc + ms
        return x * (1 + torch.sigmoid(att))
