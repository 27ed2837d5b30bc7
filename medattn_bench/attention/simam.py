"""SimAM. Yang, Zhang, Li, Xie, "SimAM: A Simple, Parameter-Free Attention Module for
Convolutional Neural Networks", ICML 2021 (official: ZjjConan/SimAM)."""

from __future__ import annotations

import torch
from torch import nn

from .base import register_attention


@register_attention("simam", paper="Yang et al., SimAM: A Simple, Parameter-Free Attention Module, ICML 2021")
class SimAM(nn.Module):
    """``x * sigmoid(1 / e_t)`` with the minimal energy ``1 / e_t = (x - mu)^2 / (4 (var + lambda)) + 1/2``,
    mu and var per channel over the H*W positions, var normalised by n = H*W - 1 (official code).

    Paper symbols: ``e_lambda`` = lambda (1e-4). No parameters.
    """

    def __init__(self, channels: int, e_lambda: float = 1e-4) -> None:
        super().__init__()
        self.e_lambda = e_lambda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[2] * x.shape[3] - 1
        d = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
        e_inv = d / (4 * (d.sum(dim=(2, 3), keepdim=True) / max(n, 1) + self.e_lambda)) + 0.5
        return x * torch.sigmoid(e_inv)
