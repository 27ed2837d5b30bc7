"""scSE. Roy, Navab, Wachinger, "Concurrent Spatial and Channel 'Squeeze & Excitation' in Fully
Convolutional Networks", MICCAI 2018.

``out = cSE(x) + sSE(x)``: cSE is the SE channel gate (C -> C/r -> C, ``rd_ratio`` = 1/r, r = 2 in the paper), sSE a
1x1 conv C -> 1 with a sigmoid, a per-pixel gate. The paper's aggregation is max or sum; sum here.
"""

import torch
from torch import nn

from medattn_bench.attention import register_attention


class SCSE(nn.Module):
    def __init__(self, channels: int, rd_ratio: float = 0.5) -> None:
        super().__init__()
        rd = max(1, int(channels * rd_ratio))
        self.fc1 = nn.Linear(channels, rd)
        self.fc2 = nn.Linear(rd, channels)
        self.spatial = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))[:, :, None, None]
        s = torch.sigmoid(self.spatial(x))
        return x * c + x * s


@register_attention("scse", paper="Roy et al., Concurrent Spatial and Channel Squeeze & Excitation, MICCAI 2018")
def scse(channels: int, rd_ratio: float = 0.5) -> nn.Module:
    return SCSE(channels, rd_ratio)
