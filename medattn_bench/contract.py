"""The attention-block contract, checked for plugins when they are loaded and on demand by
``medattn-bench plugin check NAME``: shape preserved at the four ResNet-18 stage shapes in train
and eval mode, gradients reach every parameter, no NaNs, deterministic in eval mode, and works
under bf16 autocast."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .attention import ATTENTION, build_attention, placement_of

from .models.resnet import STAGE_CHANNELS

STAGE_SHAPES = tuple((c, 224 // 4 // 2**i) for i, c in enumerate(STAGE_CHANNELS))  # (channels, side) at 224 px


@dataclass
class ContractReport:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _randomised(block: nn.Module) -> nn.Module:
    # Zero-initialised parts (GC's last conv, non-local's BN) would hide parameters cut off from
    # the loss; random values let every path carry gradient.
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return block


def check_block(name: str, hparams: dict | None = None, batch: int = 2) -> ContractReport:
    """Run every contract check on the block ``name``; each violation is one readable message."""
    hparams = hparams or {}
    report = ContractReport(name)
    fail = report.failures.append
    for channels, side in STAGE_SHAPES:
        where = f"at ({batch}, {channels}, {side}, {side})"
        try:
            torch.manual_seed(0)
            block = build_attention(name, channels, **hparams)
        except Exception as exc:  # a plugin's constructor may raise anything; report, don't crash
            fail(f"construction failed for {channels} channels: {type(exc).__name__}: {exc}")
            continue
        x = torch.randn(batch, channels, side, side)
        for mode in ("train", "eval"):
            block.train(mode == "train")
            try:
                with torch.no_grad():
                    y = block(x)
            except Exception as exc:
                fail(f"{mode} forward {where} raised {type(exc).__name__}: {exc}")
                continue
            if not isinstance(y, torch.Tensor) or y.shape != x.shape:
                fail(f"{mode} output {where} has shape {tuple(getattr(y, 'shape', ()))}, expected {tuple(x.shape)}")
            elif not torch.isfinite(y).all():
                fail(f"{mode} output {where} contains NaN or inf")
        if report.failures:
            continue
        block.eval()
        with torch.no_grad():
            if not torch.equal(block(x), block(x)):
                fail(f"eval mode is not deterministic {where}: two calls on the same input differ")
        block.train()
        _randomised(block)
        xg = x.clone().requires_grad_(True)
        try:
            block(xg).square().mean().backward()
        except Exception as exc:
            fail(f"backward {where} raised {type(exc).__name__}: {exc}")
            continue
        dead = [n for n, p in block.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
        if dead:
            fail(f"no gradient reaches parameter(s) {', '.join(dead)} {where}")
        bad = [n for n, p in block.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            fail(f"non-finite gradient in {', '.join(bad)} {where}")
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                yb = block(x)
            if yb.shape != x.shape or not torch.isfinite(yb.float()).all():
                fail(f"under bf16 autocast the output {where} is wrong (shape {tuple(yb.shape)} or NaN)")
        except Exception as exc:
            fail(f"bf16 autocast forward {where} raised {type(exc).__name__}: {exc}")
    return report


def describe(name: str) -> dict:
    entry = ATTENTION.entry(name)
    return {"name": name, "origin": entry.origin, "paper": entry.meta.get("paper", ""), "placement": placement_of(name)}
