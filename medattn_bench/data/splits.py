"""Train/test splits that depend only on (data set, seed), so every variant trained with the same
seed is tested on the same cases, which is what makes paired comparisons possible."""

from __future__ import annotations

import zlib

import numpy as np


def _group_table(labels: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample's group index, each group's size, and each group's class (its members' majority)."""
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    _, inverse = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inverse)
    return inverse, sizes, np.rint(np.bincount(inverse, weights=labels) / sizes).astype(int)


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
    rng = np.random.default_rng([zlib.crc32(dataset.encode()), seed])
    inverse, sizes, group_label = _group_table(labels, groups)
    test_groups = np.zeros(len(sizes), dtype=bool)
    for cls in np.unique(labels):
        members = np.flatnonzero(group_label == cls)
        members = members[rng.permutation(len(members))]
        quota = round(test_fraction * sizes[members].sum())
        taken = np.cumsum(sizes[members])
        test_groups[members[: int(np.searchsorted(taken, quota, side="left")) + 1]] = True
    is_test = test_groups[inverse]
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def merge_groups(*arrays: np.ndarray | None) -> np.ndarray | None:
    """One group id per sample such that samples sharing a group in any of ``arrays`` share one
    (duplicate groups and patient groups together)."""
    from .cache import components

    arrays = tuple(np.asarray(a) for a in arrays if a is not None)
    if not arrays:
        return None
    n = len(arrays[0])
    src, dst = [], []
    for arr in arrays:
        _, first = np.unique(arr, return_index=True)
        _, inverse = np.unique(arr, return_inverse=True)
        src.append(first[inverse])
        dst.append(np.arange(n))
    return components(n, np.concatenate(src), np.concatenate(dst))


def kfold_split(labels: np.ndarray, dataset: str, repeat: int, fold: int, folds: int,
                groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fold`` of a stratified, group-aware ``folds``-fold partition (shuffled by ``repeat``):
    within each class whole groups are dealt, largest first, to the fold with fewest images."""
    labels = np.asarray(labels)
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}), got {fold}")
    rng = np.random.default_rng([zlib.crc32(dataset.encode()), repeat, 1_000_003])
    inverse, sizes, group_label = _group_table(labels, groups)
    fold_of = np.empty(len(sizes), dtype=int)
    for cls in np.unique(labels):
        members = np.flatnonzero(group_label == cls)
        members = members[rng.permutation(len(members))]
        members = members[np.argsort(-sizes[members], kind="stable")]
        load = np.zeros(folds)
        for g in members:
            f = int(np.argmin(load))
            fold_of[g] = f
            load[f] += sizes[g]
    is_test = fold_of[inverse] == fold
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
