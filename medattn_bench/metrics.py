"""AUC-ROC from ranks and calibration (ECE, Brier), with the input validated at the entry point."""

from __future__ import annotations

import numpy as np

from .errors import StatsError


def check_binary(labels: object, scores: object, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Validate ``labels`` (0/1) and ``scores`` (finite, same length) and return them as arrays.

    AUC is undefined with one class; that is an error here, never a silent 0.5 or NaN.
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or s.ndim != 1:
        raise StatsError(f"labels and {what} must be 1-D, got shapes {y.shape} and {s.shape}")
    if len(y) != len(s):
        raise StatsError(f"labels ({len(y)}) and {what} ({len(s)}) differ in length")
    if not np.isin(y, (0, 1)).all():
        raise StatsError(f"labels must be 0/1, got values {sorted(set(np.unique(y).tolist()) - {0, 1})[:5]}")
    if not np.isfinite(s).all():
        raise StatsError(f"{what} contain {int((~np.isfinite(s)).sum())} non-finite value(s) (NaN or inf)")
    n1 = int(y.sum())
    if n1 == 0 or n1 == len(y):
        raise StatsError(f"AUC needs both classes; got {len(y)} case(s) all of class {int(y[0]) if len(y) else '-'}")
    return y.astype(np.int64), s


def calibration(labels: object, probs: object, n_bins: int = 15) -> dict[str, float]:
    """Expected calibration error and Brier score of ``probs`` = P(class 1).

    ECE is the top-label version of Guo et al. (2017): confidence max(p, 1 - p) against accuracy
    of the predicted class, ``n_bins`` equal-width bins on [0.5, 1] weighted by their share of cases.
    """
    y, p = check_binary(labels, probs, "probabilities")
    if (p < 0).any() or (p > 1).any():
        raise StatsError(f"probabilities must lie in [0, 1], got range {p.min():.3g}..{p.max():.3g}")
    conf = np.maximum(p, 1 - p)
    correct = ((p >= 0.5).astype(int) == y).astype(float)
    # Bins on [0, 1] as in the usual definition: with top-label confidence only [0.5, 1] is filled.
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    filled = count > 0
    gap = np.abs(np.bincount(idx, correct, n_bins)[filled] - np.bincount(idx, conf, n_bins)[filled]) / count[filled]
    ece = float((count[filled] / len(p) * gap).sum())
    return {"ece": float(ece), "brier": float(np.mean((p - y) ** 2))}


