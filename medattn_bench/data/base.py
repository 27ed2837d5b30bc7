"""The data-set registry and the in-memory image set (the built-in loaders import this; the
package imports them).

A data set factory takes its validated options (a pydantic model declared with the
registration) and returns an :class:`ImageSet`: decoded uint8 images kept in memory, so training
never decodes files per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..dataopts import DatasetOptions  # noqa: F401  (re-exported)
from ..registry import Registry


@dataclass
class ImageSet:
    """Decoded images ``(N, C, H, W)`` uint8 (C = 1 or 3), binary labels and stable sample ids."""

    images: torch.Tensor
    labels: np.ndarray
    ids: list[str]
    classes: tuple[str, str]
    masks: torch.Tensor | None = None  # (N, H, W) bool lesion masks where known
    groups: np.ndarray | None = None  # duplicate groups: same group -> same side of a split
    patients: np.ndarray | None = None  # patient / source-case ids where file names carry them
    official_split: np.ndarray | None = None  # 'train' / 'test' per sample, where the source has one
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.images.shape[0] != n or len(self.labels) != n:
            raise ValueError(f"images ({self.images.shape[0]}), labels ({len(self.labels)}) and ids ({n}) differ in length")

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class DatasetEntry:
    factory: Callable[..., ImageSet]
    options: type[DatasetOptions]


DATASETS: Registry[DatasetEntry] = Registry("data set")


def register_dataset(name: str, options: type[DatasetOptions], *, description: str = "") -> Callable:
    """Register ``factory(opts, data_root) -> ImageSet`` under ``name`` with its options model."""

    def decorator(factory: Callable[..., ImageSet]) -> Callable[..., ImageSet]:
        DATASETS.register(name, description=description)(DatasetEntry(factory, options))
        return factory

    return decorator


def load_dataset(name: str, options: dict[str, Any], data_root: str | None = None) -> ImageSet:
    entry = DATASETS.get(name)
    return entry.factory(entry.options(**options), data_root)
