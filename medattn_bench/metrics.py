"""AUC-ROC from ranks, with the input validated at the entry point."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

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


def auc(labels: object, scores: object) -> float:
    """Area under the ROC curve (ties count one half), via the Mann-Whitney rank sum."""
    y, s = check_binary(labels, scores)
    r = rankdata(s)
    n1 = y.sum()
    n0 = len(y) - n1
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
