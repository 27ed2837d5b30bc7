"""Micro-benchmarks: every registered block, forward and backward, at the four ResNet-18 stage
shapes (batch 8, 224 px input). ``make bench`` times them; ``make test`` runs each once."""

import pytest
import torch

from medattn_bench.attention import ATTENTION, build_attention

STAGES = {"layer1": (64, 56), "layer2": (128, 28), "layer3": (256, 14), "layer4": (512, 7)}


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("name", ATTENTION.names())
def test_block_forward_backward(benchmark, name, stage):
    channels, side = STAGES[stage]
    torch.manual_seed(0)
    block = build_attention(name, channels).train()
    x = torch.randn(8, channels, side, side, requires_grad=True)

    def step():
        y = block(x)
        y.sum().backward()
        return y

    y = benchmark(step)
    assert y.shape == x.shape
