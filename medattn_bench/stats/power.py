"""Power and the minimum detectable ΔAUC of the decisive test, with the growth of the per-split
variance near AUC 1."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .auc import _auc_from_samples, _midrank_placements, _placements_sorted
from .paired import PairedRun, _delta_and_variance


@dataclass(frozen=True)
class Power:
    """What a suite can resolve on one data set."""

    mde: float  # smallest ΔAUC detected with the given power at alpha (two-sided)
    seeds_for_one_point: int | None  # splits needed to detect 1 AUC point; None if over max_seeds
    split_sd: float  # sd of per-split ΔAUC (training and case variation together)
    n_splits: int
    alpha: float
    power: float


_GL_X, _GL_W = np.polynomial.legendre.leggauss(256)
_GL_Q, _GL_W = (_GL_X + 1) / 2, _GL_W / 2


def t_power(delta: float, sd: float, s: int, alpha: float) -> float:
    """Exact power of the two-sided one-sample t test on ``s`` per-split deltas with sd ``sd``
    against a true mean ``delta`` (noncentral t, S - 1 df)."""
    if s < 2 or not sd > 0:
        return float("nan")
    df, nc = s - 1, delta * np.sqrt(s) / sd
    tc = sps.t.ppf(1 - alpha / 2, df)
    # P(|Z + nc| > tc·sqrt(V/df)), V ~ χ²(df), averaged over the quantiles of V (Gauss-Legendre,
    # smooth whatever the df): scipy's nct cdf returns NaN or 0 in the far tails that few splits
    # and a Holm-sized α reach (2 df, α = 0.05/16).
    c = tc * np.sqrt(sps.chi2.ppf(_GL_Q, df) / df)
    p = float(_GL_W @ (sps.norm.sf(c - nc) + sps.norm.cdf(-c - nc)))
    return float(min(max(p, 0.0), 1.0))


def variance_growth(runs: list[PairedRun], split_sd: float, shifts: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """How much the variance of a split's ΔAUC grows when the variant is truly Δ better than the
    baseline it was compared with: a grid of Δ and the growth (AUC² units) at each.

    The spread of the per-split ΔAUC depends on Δ itself near AUC 1, so a spread seen among
    variants that barely differ misstates the spread at the Δ a power line speaks of. Two parts:

    - *Test cases*, measured on the splits themselves: the variant's scores become normal scores
      (rank-based, so their scale does not matter), its positives are shifted by c (probit units)
      until its ΔAUC on the split is Δ, and the paired DeLong variance is taken again; the mean
      over splits of that variance minus the one observed.
    - *Training*: the rest of the observed spread (``split_sd``² minus the mean DeLong variance)
      is training noise, taken to move each model's binormal separation, so its share of a model's
      AUC scales with φ(Φ⁻¹(AUC))² (the slope of the AUC in the separation): the baseline's share
      stays, the variant's follows its AUC (smaller nearer 1).

    Beyond the grid (no room left above the baseline) the case part stays flat."""
    grid = np.concatenate([-np.geomspace(0.05, 4, shifts)[::-1], [0.0], np.geomspace(0.05, 4, shifts)])
    at = np.linspace(-1, 1, 401)
    if not runs:
        return at, np.zeros_like(at)
    curves, observed, aucs = [], [], []
    for r in runs:
        y = r.labels
        a = np.atleast_2d(r.scores_a)
        z = sps.norm.ppf(sps.rankdata(a, axis=1) / (a.shape[1] + 1))
        # split_delta of (z + c·y, baseline) at each shift c: the baseline's placements once, the
        # variant's from its samples sorted once (a shift keeps their order)
        base = [_midrank_placements(row[y == 1], row[y == 0]) for row in np.atleast_2d(r.scores_b)]
        samples = [(row[y == 1], np.sort(row[y == 1]), np.sort(row[y == 0]), row[y == 0]) for row in z]
        if len(samples) == len(base) == 1:  # one model a side: every shift at once
            d, v = _shifted_pair(*samples[0], *base[0], grid)
        else:
            parts = [_delta_and_variance([_placements_sorted(p + c, ps + c, ns, n) for p, ps, ns, n in samples] + base,
                                         len(z)) for c in grid]
            d, v = np.array([q[0] for q in parts]), np.array([q[1] for q in parts])
        v0 = v[len(grid) // 2]
        curves.append((np.maximum.accumulate(d), v - v0))
        observed.append(v0)
        b = np.atleast_2d(r.scores_b)
        aucs.append(np.mean([_auc_from_samples(row[y == 1], row[y == 0]) for row in b]))
    growth = np.mean([np.interp(at, d, g) for d, g in curves], axis=0)
    train = max(split_sd**2 - float(np.mean(observed)), 0.0) if np.isfinite(split_sd) else 0.0
    if train > 0:
        base = float(np.clip(np.mean(aucs), 1e-6, 1 - 1e-6))
        slope2 = sps.norm.pdf(sps.norm.ppf(np.clip(base + at, 1e-9, 1 - 1e-9))) ** 2
        ref = sps.norm.pdf(sps.norm.ppf(base)) ** 2
        growth = growth + train / 2 * (slope2 / ref - 1)  # half the training variance is the variant's
    return at, growth


def _shifted_pair(pos: np.ndarray, pos_sorted: np.ndarray, neg_sorted: np.ndarray, neg: np.ndarray,
                  b10: np.ndarray, b01: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ΔAUC and paired DeLong variance (:func:`~medattn_bench.stats.split_delta` with one model a
    side) of the variant's positives shifted by each c in ``grid`` against the baseline's
    placements ``b10``, ``b01``: the variance of a difference of placements, all shifts at once."""
    m, n = len(pos), len(neg)
    shifted = pos[None, :] + grid[:, None]
    a10 = (np.searchsorted(neg_sorted, shifted, "left") + np.searchsorted(neg_sorted, shifted, "right")) / 2 / n
    a01 = np.stack([1.0 - (np.searchsorted(pos_sorted + c, neg, "left") + np.searchsorted(pos_sorted + c, neg, "right"))
                    / 2 / m for c in grid])
    var = np.var(a10 - b10, axis=1, ddof=1) / m + np.var(a01 - b01, axis=1, ddof=1) / n
    return a10.mean(1) - b10.mean(), np.maximum(var, 0.0)


def _grown_sd(sd: float, delta: float, growth: tuple[np.ndarray, np.ndarray] | None) -> float:
    """The per-split sd at a true ``delta``: ``sd`` with its variance grown (:func:`variance_growth`),
    never below half of ``sd``."""
    return sd if growth is None else float(np.sqrt(max(sd**2 + np.interp(delta, *growth), sd**2 / 4)))


def _mde(sd: float, s: int, alpha: float, power: float, growth: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """The Δ at which :func:`t_power` reaches ``power`` (the usual t-quantile sum runs 5-17 % low
    at 3-5 splits: it ignores the noncentrality's spread), with the per-split sd at Δ grown by
    :func:`variance_growth` where given."""
    from scipy.optimize import brentq

    if s < 2 or not sd > 0:
        return float("nan")

    hi = sd
    while t_power(hi, _grown_sd(sd, hi, growth), s, alpha) < power:
        hi *= 2
        if hi > 4:  # far beyond any ΔAUC: the growth keeps the power below the target
            return float("inf")
    return float(brentq(lambda d: t_power(d, _grown_sd(sd, d, growth), s, alpha) - power, 0.0, hi, xtol=1e-10))


def min_detectable(split_sd: float, n_splits: int, alpha: float = 0.05, power: float = 0.8, target: float = 0.01,
                   max_seeds: int = 500, growth: tuple[np.ndarray, np.ndarray] | None = None) -> Power:
    """Minimum detectable ΔAUC of the t test on per-split deltas with sd ``split_sd`` (exact
    noncentral-t power, :func:`t_power`), and the splits needed to detect ``target``. ``growth``
    (:func:`variance_growth`): the per-split variance at a true Δ is ``split_sd``² plus its
    growth at Δ."""
    if n_splits < 2 or not np.isfinite(split_sd) or not split_sd > 0:
        return Power(float("nan"), None, split_sd, n_splits, alpha, power)
    sd_target = _grown_sd(split_sd, target, growth)
    need = None
    if t_power(target, sd_target, max_seeds, alpha) >= power:  # power grows with splits: bisect
        lo, hi = 1, max_seeds
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if mid >= 2 and t_power(target, sd_target, mid, alpha) >= power else (mid, hi)
        need = hi
    return Power(_mde(split_sd, n_splits, alpha, power, growth), need, split_sd, n_splits, alpha, power)
