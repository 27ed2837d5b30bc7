"""Training and evaluation of one run: SGD + multistep schedule + cross entropy (the paper's
protocol), on decoded uint8 tensors with batched augmentation, bf16 autocast where it pays off."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DivergedError
from ..data.prepare import prepare_images  # noqa: F401  (re-exported)
from .device import DeviceInfo


@dataclass(frozen=True)
class Augment:
    hflip: bool = True
    vflip: bool = False
    rotate_deg: float = 0.0
    translate: float = 0.0  # fraction of the side
    scale: tuple[float, float] = (1.0, 1.0)

    @property
    def affine(self) -> bool:
        return self.rotate_deg > 0 or self.translate > 0 or self.scale != (1.0, 1.0)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: tuple[float, ...] = (0.3, 0.6, 0.9)
    lr_gamma: float = 0.1
    image_size: int = 224
    augment: Augment = Augment()
    eval_batch_size: int = 256


@dataclass
class RunOutput:
    scores: np.ndarray  # P(class 1) per test case, float64
    history: list[dict] = field(default_factory=list)  # per-epoch loss and lr
    train_seconds: float = 0.0
    model: nn.Module | None = None  # the trained model, in eval mode
    batcher: _Batcher | None = None  # its input normalisation (train-split statistics)


class _Batcher:
    """Turns uint8 images on the target device into normalised, augmented float batches."""

    def __init__(self, images: torch.Tensor, train_idx: np.ndarray, dev: DeviceInfo) -> None:
        self.images = images
        x = images[torch.as_tensor(train_idx)].float() / 255
        self.mean = x.mean(dim=(0, 2, 3), keepdim=True)
        self.std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
        self.memory_format = torch.channels_last if dev.channels_last else torch.contiguous_format

    def batch(self, idx: torch.Tensor, aug: Augment | None, gen: torch.Generator | None) -> torch.Tensor:
        x = (self.images[idx].float().div_(255) - self.mean) / self.std
        if aug is not None:
            x = _augment(x, aug, gen)
        return x.contiguous(memory_format=self.memory_format)


def _augment(x: torch.Tensor, aug: Augment, gen: torch.Generator | None) -> torch.Tensor:
    n = x.shape[0]

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen).to(x.device)

    if aug.hflip:
        x = torch.where((u(n) < 0.5)[:, None, None, None], x.flip(-1), x)
    if aug.vflip:
        x = torch.where((u(n) < 0.5)[:, None, None, None], x.flip(-2), x)
    if aug.affine:
        ang = (u(n) * 2 - 1) * math.radians(aug.rotate_deg)
        sc = aug.scale[0] + u(n) * (aug.scale[1] - aug.scale[0])
        t = (u(n, 2) * 2 - 1) * aug.translate * 2
        cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
        theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return x


def autocast(dev: DeviceInfo) -> torch.autocast:
    return torch.autocast(dev.device, dtype=torch.bfloat16, enabled=dev.dtype == "bf16")


def predict(model: nn.Module, batcher: _Batcher, idx: np.ndarray, dev: DeviceInfo, batch_size: int) -> np.ndarray:
    """P(class 1) for the cases ``idx``, computed under the run's autocast, softmax in fp32."""
    model.eval()
    out = []
    with torch.inference_mode(), autocast(dev):
        for chunk in torch.as_tensor(idx).split(batch_size):
            logits = model(batcher.batch(chunk.to(batcher.images.device), None, None))
            out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def train_and_evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: np.ndarray,
    train_idx: np.ndarray,
    test_idx: np.ndarray,
    cfg: TrainSettings,
    dev: DeviceInfo,
    seed: int,
    on_epoch: Callable[[int, float], None] | None = None,
) -> RunOutput:
    """Train ``model`` on ``train_idx`` and return its test scores; raises ``DivergedError`` on NaN."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    device = torch.device(dev.device)
    images = prepare_images(images, cfg.image_size).to(device)
    y_all = torch.as_tensor(labels, dtype=torch.long, device=device)
    batcher = _Batcher(images, train_idx, dev)
    model = model.to(device, memory_format=batcher.memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    milestones = sorted({max(1, round(f * cfg.epochs)) for f in cfg.lr_milestones})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=cfg.lr_gamma)
    train_t = torch.as_tensor(train_idx)
    history: list[dict] = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = train_t[torch.randperm(len(train_t), generator=gen)]
        # Drop a last batch of one: BatchNorm cannot train on a single sample.
        batches = [b for b in order.split(cfg.batch_size) if len(b) > 1]
        total = torch.zeros((), device=device)
        for b in batches:
            b = b.to(device)
            x = batcher.batch(b, cfg.augment, gen)
            with autocast(dev):
                loss = F.cross_entropy(model(x).float(), y_all[b])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        mean_loss = float(total) / max(1, len(batches))  # one sync per epoch, not per step
        history.append({"epoch": epoch + 1, "loss": mean_loss, "lr": optimizer.param_groups[0]["lr"]})
        if not math.isfinite(mean_loss):
            raise DivergedError(f"loss became {mean_loss} in epoch {epoch + 1} (lr {optimizer.param_groups[0]['lr']:g})")
        scheduler.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, mean_loss)
    train_seconds = time.perf_counter() - t0
    scores = predict(model, batcher, test_idx, dev, cfg.eval_batch_size)
    if not np.all(np.isfinite(scores)):
        raise DivergedError("the trained model produced non-finite test scores")
    return RunOutput(scores=scores, history=history, train_seconds=train_seconds, model=model, batcher=batcher)
