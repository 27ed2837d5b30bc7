"""Train/test splits that depend only on (data set, seed), so every variant trained with the same
seed is tested on the same cases, which is what makes paired comparisons possible."""

from __future__ import annotations

import zlib

import numpy as np


def stratified_split(
    labels: np.ndarray, dataset: str, seed: int, test_fraction: float = 0.2, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``(train_idx, test_idx)``; with ``groups``, every group lands on one side.

    A group's class is its members' majority label; within each class, whole groups are taken in a
    seeded random order until the class's test quota is met.
    """
    labels = np.asarray(labels)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng([zlib.crc32(dataset.encode()), seed])
    uniq, inverse = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inverse)
    group_label = np.rint(np.bincount(inverse, weights=labels) / sizes).astype(int)
    test_groups = np.zeros(len(uniq), dtype=bool)
    for cls in np.unique(labels):
        members = np.flatnonzero(group_label == cls)
        members = members[rng.permutation(len(members))]
        quota = round(test_fraction * sizes[members].sum())
        taken = np.cumsum(sizes[members])
        test_groups[members[: int(np.searchsorted(taken, quota, side="left")) + 1]] = True
    is_test = test_groups[inverse]
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
