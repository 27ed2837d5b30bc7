"""Uncertainty for AUCs and paired comparisons against the baseline.

- DeLong variance with the fast midrank algorithm (Sun & Xu, IEEE SPL 2014).
- Per-run bootstrap CI: ``scipy.stats.bootstrap`` with positives and negatives resampled
  separately (stratified), BCa or percentile.
- Paired, stratified bootstrap of Delta-AUC over test cases, pooled over seeds: each resample
  draws case multiplicities per seed and averages the per-seed Delta-AUC; optionally seeds are
  resampled too (hierarchical). All resamples are computed at once as
  ``Delta_b = w_b^T (H_a - H_b) v_b / (m n)``, where ``H[i, j]`` is the Heaviside kernel of
  positive i against negative j and ``w_b``, ``v_b`` are multinomial case counts.
- p-values: the bootstrap test of pROC's ``roc.test`` (z = Delta / sd of Delta*), and the paired
  DeLong z-test; Holm (default), Bonferroni or Benjamini-Hochberg across comparisons.
- Across data sets, descriptive only: mean ranks, Friedman, Nemenyi critical difference.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from .errors import StatsError
from .metrics import check_binary

# ------------------------------------------------------------------------------------- DeLong


def _midrank_placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Structural components: V10[i] = P(neg < pos_i), V01[j] = P(pos > neg_j), ties 1/2."""
    m, n = len(pos), len(neg)
    tz = sps.rankdata(np.concatenate([pos, neg]))
    tx, ty = sps.rankdata(pos), sps.rankdata(neg)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return v10, v01


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


# ----------------------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class PairedRun:
    """One seed's test set scored by variant a and the baseline b (same cases, same order)."""

    labels: np.ndarray
    scores_a: np.ndarray
    scores_b: np.ndarray

    @classmethod
    def checked(cls, labels: object, scores_a: object, scores_b: object) -> PairedRun:
        y, a = check_binary(labels, scores_a, "scores of a")
        _, b = check_binary(y, scores_b, "scores of b")
        return cls(y, a, b)


@dataclass(frozen=True)
class Comparison:
    delta: float  # mean over seeds of AUC(a) - AUC(b)
    ci_lo: float
    ci_hi: float
    ci_method: str
    p_bootstrap: float
    delong_delta_se: float
    p_delong: float
    per_seed: tuple[float, ...]
    n_resamples: int
    level: float
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def _kernel(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def _delta_replicates(run: PairedRun, n_resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, float, np.ndarray]:
    """(B,) bootstrap replicates of this run's Delta-AUC, its point value, and its jackknife values."""
    y = run.labels
    pa, na, pb, nb = run.scores_a[y == 1], run.scores_a[y == 0], run.scores_b[y == 1], run.scores_b[y == 0]
    m, n = len(pa), len(na)
    d = (_kernel(pa, na) - _kernel(pb, nb)).astype(np.float32)
    point = float(d.mean())
    w = rng.multinomial(m, np.full(m, 1 / m), size=n_resamples).astype(np.float32)
    v = rng.multinomial(n, np.full(n, 1 / n), size=n_resamples).astype(np.float32)
    reps = np.empty(n_resamples)
    step = max(1, 4_000_000 // max(m, n))  # bounded memory for large test sets
    for s in range(0, n_resamples, step):
        reps[s : s + step] = ((w[s : s + step] @ d) * v[s : s + step]).sum(1) / (m * n)
    # Leave-one-case-out values in closed form from the row/column means of the kernel difference.
    jack = np.concatenate([(m * point - d.mean(1)) / (m - 1) if m > 1 else [],
                           (n * point - d.mean(0)) / (n - 1) if n > 1 else []])
    return reps, point, jack


def _interval(reps: np.ndarray, point: float, jack: np.ndarray | None, level: float, method: str) -> tuple[float, float]:
    alpha = (1 - level) / 2
    if method == "bca" and jack is not None and len(jack) > 2:
        z0 = sps.norm.ppf(np.clip(((reps < point).sum() + 0.5 * (reps == point).sum()) / len(reps), 1e-6, 1 - 1e-6))
        u = jack.mean() - jack
        denom = 6 * (u**2).sum() ** 1.5
        a = (u**3).sum() / denom if denom > 0 else 0.0
        zs = sps.norm.ppf([alpha, 1 - alpha])
        q = sps.norm.cdf(z0 + (z0 + zs) / (1 - a * (z0 + zs)))
    else:
        q = np.array([alpha, 1 - alpha])
    lo, hi = np.quantile(reps, q)
    return float(lo), float(hi)


def paired_delong(runs: list[PairedRun]) -> tuple[float, float, float]:
    """Paired DeLong test pooled over independent seeds: (mean Delta, its SE, two-sided p)."""
    deltas, variances = [], []
    for r in runs:
        y = r.labels
        comps = [_midrank_placements(s[y == 1], s[y == 0]) for s in (r.scores_a, r.scores_b)]
        v10 = np.stack([c[0] for c in comps])
        v01 = np.stack([c[1] for c in comps])
        s10, s01 = np.cov(v10), np.cov(v01)
        contrast = np.array([1.0, -1.0])
        var = contrast @ s10 @ contrast / v10.shape[1] + contrast @ s01 @ contrast / v01.shape[1]
        deltas.append(v10[0].mean() - v10[1].mean())
        variances.append(var)
    delta = float(np.mean(deltas))
    se = float(np.sqrt(np.sum(variances)) / len(runs))
    if se == 0:
        return delta, 0.0, 1.0 if delta == 0 else 0.0
    return delta, se, float(2 * sps.norm.sf(abs(delta) / se))


def paired_comparison(runs: list[PairedRun], n_resamples: int = 2000, level: float = 0.95, method: str = "bca",
                      seed: int = 0, hierarchical: bool = False) -> Comparison:
    """Compare variant a with baseline b over one or more seeds (see the module docstring)."""
    if not runs:
        raise StatsError("a paired comparison needs at least one seed with both variants")
    if method not in ("bca", "percentile"):
        raise StatsError(f"ci method must be 'bca' or 'percentile', got {method!r}")
    rng = np.random.default_rng(seed)
    per_seed = [_delta_replicates(r, n_resamples, rng) for r in runs]
    reps = np.stack([p[0] for p in per_seed], axis=1)  # (B, S)
    points = np.array([p[1] for p in per_seed])
    point = float(points.mean())
    jack: np.ndarray | None
    if hierarchical and len(runs) > 1:
        pick = rng.integers(0, len(runs), size=reps.shape)
        pooled = np.take_along_axis(reps, pick, axis=1).mean(1)
        jack, used = None, "percentile (hierarchical: cases and seeds)"
    else:
        pooled = reps.mean(1)
        # A case left out of seed s moves the pooled mean by (Delta_s,-i - Delta_s) / S.
        jack = np.concatenate([point + (p[2] - p[1]) / len(runs) for p in per_seed])
        used = "BCa" if method == "bca" else "percentile"
    lo, hi = _interval(pooled, point, jack, level, method)
    sd = pooled.std(ddof=1)
    p_boot = float(2 * sps.norm.sf(abs(point) / sd)) if sd > 0 else (1.0 if point == 0 else 0.0)
    _, se_dl, p_dl = paired_delong(runs)
    return Comparison(point, lo, hi, used, p_boot, se_dl, p_dl, tuple(float(x) for x in points), n_resamples, level, seed)


def adjust_pvalues(p: list[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Multiple-comparison adjustment; NaN entries stay NaN and do not count towards m."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = len(q)
    if m == 0 or method == "none":
        out[ok] = q
        return out
    if method == "bonferroni":
        out[ok] = np.minimum(1, q * m)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        adj = np.maximum.accumulate(np.minimum(1, (m - np.arange(m)) * q[order]))
        res = np.empty(m)
        res[order] = adj
        out[ok] = res
    elif method == "bh":
        out[ok] = sps.false_discovery_control(q, method="bh")
    else:
        raise StatsError(f"correction must be holm, bonferroni, bh or none, got {method!r}")
    return out


# -------------------------------------------------------------------------- across data sets


@dataclass(frozen=True)
class RankSummary:
    variants: tuple[str, ...]
    mean_ranks: tuple[float, ...]
    n_datasets: int
    friedman_stat: float
    friedman_p: float
    critical_difference: float

    def to_dict(self) -> dict:
        return asdict(self)


def rank_variants(table: dict[str, dict[str, float]], alpha: float = 0.05) -> RankSummary:
    """Mean rank per variant (1 = best AUC) over the data sets every variant has, with the
    Friedman test and the Nemenyi critical difference. Descriptive with few data sets."""
    variants = tuple(table)
    datasets = sorted(set.intersection(*(set(v) for v in table.values()))) if table else []
    k, n = len(variants), len(datasets)
    if k < 2 or n < 1:
        return RankSummary(variants, tuple(float("nan") for _ in variants), n, float("nan"), float("nan"), float("nan"))
    scores = np.array([[table[v][d] for v in variants] for d in datasets])
    ranks = sps.rankdata(-scores, axis=1)
    mean_ranks = ranks.mean(0)
    stat = p = float("nan")
    if k >= 3 and n >= 2:
        stat, p = (float(x) for x in sps.friedmanchisquare(*scores.T))
    q = sps.studentized_range.ppf(1 - alpha, k, 1e6) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6 * n)))
    return RankSummary(variants, tuple(float(r) for r in mean_ranks), n, stat, p, cd)
