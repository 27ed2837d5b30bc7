"""ResNet-18 with an attention block in every BasicBlock (Rao et al. 2021 placement).

The backbone is torchvision's ``ResNet``; only the BasicBlock changes: the attention block is
applied to the output of the second conv+BN, before the residual addition.

Initialisation trap: ``ResNet.__init__`` re-initialises every Conv2d (kaiming) and sets every
BatchNorm/GroupNorm weight to 1 *after* the blocks are built, which would silently undo a block's
own initialisation (CBAM's zero spatial-BN weight, GC's zero last conv). The attention modules are
therefore built and attached only after torchvision has finished initialising the backbone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from ..attention import build_attention, placement_of
from .smallmap import use_small_map_conv

STAGE_CHANNELS = (64, 128, 256, 512)


class AttnBasicBlock(BasicBlock):
    """torchvision's BasicBlock with ``self.attn`` between bn2 and the residual addition."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attn: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


def resnet18(
    attention: str = "none", hparams: dict[str, Any] | None = None, num_classes: int = 2
) -> ResNet:
    """ResNet-18 (He init, global average pooling, ``num_classes`` logits) with ``attention``
    placed as the block declares (``block``, ``stage_end`` or ``after_conv1``). Its plain
    convolutions compute their weight gradient on tiny maps as one matrix product
    (:mod:`.smallmap`: same arithmetic, several times faster there on CPUs)."""
    return use_small_map_conv(_build(attention, hparams, num_classes))


def _build(attention: str, hparams: dict[str, Any] | None, num_classes: int) -> ResNet:
    hparams = dict(hparams or {})
    model = ResNet(AttnBasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    placement = placement_of(attention)
    if attention == "none":
        return model
    if placement == "block":
        for block in _blocks(model):
            block.attn = build_attention(attention, block.bn2.num_features, **hparams)
    elif placement == "stage_end":
        # BAM's placement: at the bottlenecks between stages (after layer1..layer3).
        for i, ch in enumerate(STAGE_CHANNELS[:3], start=1):
            layer = getattr(model, f"layer{i}")
            setattr(model, f"layer{i}", nn.Sequential(*layer, build_attention(attention, ch, **hparams)))
    else:  # after_conv1
        model.maxpool = nn.Sequential(model.maxpool, build_attention(attention, 64, **hparams))
    return model


def _blocks(model: nn.Module) -> list[AttnBasicBlock]:
    return [m for m in model.modules() if isinstance(m, AttnBasicBlock)]


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The attention modules attached to ``model`` (wherever their placement put them)."""
    found: list[nn.Module] = [b.attn for b in _blocks(model) if not isinstance(b.attn, nn.Identity)]
    for name in ("layer1", "layer2", "layer3"):
        layer = getattr(model, name)
        last = layer[-1]
        if not isinstance(last, AttnBasicBlock):
            found.append(last)
    if isinstance(model.maxpool, nn.Sequential):
        found.append(model.maxpool[1])
    return found
