"""Non-local block. Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018 (official:
facebookresearch/video-nonlocal-net, embedded-Gaussian version)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import register_attention


@register_attention("nonlocal", paper="Wang et al., Non-local Neural Networks, CVPR 2018")
class NonLocal(nn.Module):
    """``z = BN(W y) + x``, ``y = softmax(theta(x)^T phi(x)) g(x)`` (embedded Gaussian).

    Paper symbols: theta, phi, g are 1x1 convs C -> C/2 (``inter_ratio`` = 1/2), W is 1x1 C/2 -> C
    followed by BN whose weight starts at 0 so the block starts as the identity; ``sub_sample``
    max-pools phi and g by 2 (the official default), reducing pairwise cost 4x.
    """

    def __init__(self, channels: int, inter_ratio: float = 0.5, sub_sample: bool = True) -> None:
        super().__init__()
        inter = max(1, int(channels * inter_ratio))
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.g = nn.Conv2d(channels, inter, 1)
        self.w = nn.Conv2d(inter, channels, 1)
        self.bn = nn.BatchNorm2d(channels)
        self.sub_sample = sub_sample
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2)  # N, C', HW
        phi, g = self.phi(x), self.g(x)
        if self.sub_sample and h > 1 and w > 1:
            phi, g = F.max_pool2d(phi, 2, ceil_mode=True), F.max_pool2d(g, 2, ceil_mode=True)
        attn = torch.softmax(torch.bmm(theta.transpose(1, 2), phi.flatten(2)), dim=-1)  # N, HW, HW'
        y = torch.bmm(g.flatten(2), attn.transpose(1, 2)).reshape(n, -1, h, w)
        return x + self.bn(self.w(y))
