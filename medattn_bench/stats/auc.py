"""One model's AUC and its CI: DeLong (midrank placements) and the bootstrap."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from ..metrics import check_binary


# ------------------------------------------------------------------------------------- DeLong


def _midrank_placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Structural components: V10[i] = P(neg < pos_i), V01[j] = P(pos > neg_j), ties 1/2."""
    return _placements_sorted(pos, np.sort(pos), np.sort(neg), neg)


def _placements_sorted(pos: np.ndarray, pos_sorted: np.ndarray, neg_sorted: np.ndarray,
                       neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_midrank_placements` from the two samples and their sorted copies: the counts below
    and tied are half-integers, so the placements are the same floats as DeLong's midrank form
    (``(midrank in both - midrank in own sample) / size``) without ranking anything."""
    m, n = len(pos), len(neg)
    below_pos = (np.searchsorted(neg_sorted, pos, "left") + np.searchsorted(neg_sorted, pos, "right")) / 2
    below_neg = (np.searchsorted(pos_sorted, neg, "left") + np.searchsorted(pos_sorted, neg, "right")) / 2
    return below_pos / n, 1.0 - below_neg / m


@dataclass(frozen=True)
class AucCI:
    auc: float
    lo: float
    hi: float
    se: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def delong_ci(labels: object, scores: object, level: float = 0.95) -> AucCI:
    """AUC with its DeLong standard error and normal-approximation CI (clipped to [0, 1])."""
    y, s = check_binary(labels, scores)
    v10, v01 = _midrank_placements(s[y == 1], s[y == 0])
    a = float(v10.mean())
    var = v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)
    se = float(np.sqrt(var))
    z = sps.norm.ppf(0.5 + level / 2)
    return AucCI(a, float(max(0.0, a - z * se)), float(min(1.0, a + z * se)), se, "delong")


def _auc_from_samples(pos: np.ndarray, neg: np.ndarray, axis: int = -1) -> np.ndarray:
    """AUC of positives against negatives along ``axis``, vectorised over broadcast batch axes
    (scipy's BCa jackknife passes the two samples with different batch shapes)."""
    pos, neg = np.moveaxis(pos, axis, -1), np.moveaxis(neg, axis, -1)
    batch = np.broadcast_shapes(pos.shape[:-1], neg.shape[:-1])
    m, n = pos.shape[-1], neg.shape[-1]
    both = np.concatenate([np.broadcast_to(pos, batch + (m,)), np.broadcast_to(neg, batch + (n,))], axis=-1)
    r = sps.rankdata(both, axis=-1)
    return (r[..., :m].sum(-1) - m * (m + 1) / 2) / (m * n)


def bootstrap_ci(labels: object, scores: object, level: float = 0.95, n_resamples: int = 2000,
                 method: str = "bca", seed: int = 0) -> AucCI:
    """AUC with a stratified bootstrap CI from ``scipy.stats.bootstrap`` (BCa or percentile)."""
    y, s = check_binary(labels, scores)
    pos, neg = s[y == 1], s[y == 0]
    with warnings.catch_warnings():  # a degenerate BCa interval is handled below
        warnings.simplefilter("ignore", sps.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's BCa acceleration on tiny samples
        res = sps.bootstrap((pos, neg), _auc_from_samples, n_resamples=n_resamples, confidence_level=level,
                            method="BCa" if method == "bca" else "percentile", vectorized=True,
                            random_state=np.random.default_rng(seed), batch=max(1, 2_000_000 // len(s)))
    a = float(_auc_from_samples(pos, neg))
    lo, hi = res.confidence_interval
    if not np.isfinite(lo) or not np.isfinite(hi):  # BCa degenerates when every resample is equal
        lo, hi = np.quantile(res.bootstrap_distribution, [0.5 - level / 2, 0.5 + level / 2])
    return AucCI(a, float(lo), float(hi), float(res.standard_error), f"bootstrap-{method}")
