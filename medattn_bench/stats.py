"""Uncertainty for AUCs and paired comparisons against the baseline.

- DeLong variance with the fast midrank algorithm (Sun & Xu, IEEE SPL 2014).
- Per-run bootstrap CI: ``scipy.stats.bootstrap`` with positives and negatives resampled
  separately (stratified), BCa or percentile.
- Variants (training recipes) are compared by :func:`verdict`: per split, the paired ΔAUC with its
  DeLong variance; across splits, a DerSimonian-Laird random-effects mean with the Hartung-Knapp
  t interval, so the uncertainty includes the variation between training runs. A bootstrap
  over splits (:func:`split_bootstrap`) is the bootstrap alternative. Their false-positive rates are
  checked by simulation (tests/test_verdict.py) and by a real A/A suite (suites/aa.yaml).
- Trained models are compared by :func:`paired_comparison`: a stratified bootstrap over test
  cases only (as pROC's ``roc.test``), conditional on those models. All resamples are computed at
  once as ``Delta_b = w_b^T (H_a - H_b) v_b / (m n)``.
- Holm (default), Bonferroni or Benjamini-Hochberg across comparisons; power as the minimum
  detectable ΔAUC.
- Across data sets, descriptive only: mean ranks, Friedman, Nemenyi critical difference.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from .errors import StatsError
from .metrics import check_binary

# ------------------------------------------------------------------------------------- DeLong


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their mean rank (scipy.stats.rankdata's 'average', without its
    per-call overhead, which dominated a board render): exact halves, so the same floats."""
    x = np.asarray(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    edges = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    out = np.empty(len(x))
    out[order] = np.repeat((edges[:-1] + edges[1:] + 1) / 2, np.diff(edges))
    return out


def _midrank_placements(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Structural components: V10[i] = P(neg < pos_i), V01[j] = P(pos > neg_j), ties 1/2."""
    m, n = len(pos), len(neg)
    tz = _midranks(np.concatenate([pos, neg]))
    tx, ty = _midranks(pos), _midranks(neg)
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
    """One test set scored by variant a and the baseline b (same cases, same order). With several
    initialisations per split, ``scores_a`` and ``scores_b`` hold one row per initialisation."""

    labels: np.ndarray
    scores_a: np.ndarray  # (n,) or (k, n)
    scores_b: np.ndarray

    @classmethod
    def checked(cls, labels: object, scores_a: object, scores_b: object) -> PairedRun:
        a2, b2 = np.atleast_2d(np.asarray(scores_a, dtype=float)), np.atleast_2d(np.asarray(scores_b, dtype=float))
        y = None
        for rows, what in ((a2, "scores of a"), (b2, "scores of b")):
            for row in rows:
                y, _ = check_binary(labels if y is None else y, row, what)
        a = a2[0] if np.ndim(scores_a) == 1 else a2
        b = b2[0] if np.ndim(scores_b) == 1 else b2
        return cls(y, a, b)

    def kernel_difference(self) -> np.ndarray:
        """(m, n) mean over initialisations of H_a - H_b (H: positive-vs-negative Heaviside kernel)."""
        y = self.labels
        a, b = np.atleast_2d(self.scores_a), np.atleast_2d(self.scores_b)
        d = sum(_kernel(r[y == 1], r[y == 0]) for r in a) / len(a) - sum(_kernel(r[y == 1], r[y == 0]) for r in b) / len(b)
        return d.astype(np.float32)


def _kernel(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def _case_counts(rng: np.random.Generator, k: int, size: int) -> np.ndarray:
    """(size, k) multinomial(k, 1/k) counts, one row per resample: k uniform case indices per row,
    counted (``np.bincount``); the same distribution as ``Generator.multinomial`` in a fraction of
    its time. The indices are drawn in one call and counted in blocks of about 64 k indices, which
    stay in the CPU cache (counting them all at once was four times slower)."""
    dt = np.int16 if k < 2**15 else np.int64
    raw = rng.integers(0, k, size=(size, k), dtype=dt)
    out = np.empty((size, k), dtype=np.float32)
    rows = max(1, 65_536 // k)
    offsets = (np.arange(rows, dtype=np.intp) * k)[:, None]
    for s in range(0, size, rows):
        block = raw[s : s + rows]
        n = len(block)
        out[s : s + n] = np.bincount((block.astype(np.intp) + offsets[:n]).ravel(), minlength=n * k).reshape(n, k)
    return out


def _case_replicates(d: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B,) stratified case-bootstrap replicates of mean(d) for a kernel difference ``d`` (m, n):
    ``Delta_b = w_b^T d v_b / (m n)`` with multinomial case counts w_b, v_b."""
    m, n = d.shape
    reps = np.empty(n_resamples)
    step = max(1, 4_000_000 // max(m, n))  # bounded memory for large test sets
    for s in range(0, n_resamples, step):
        b = min(step, n_resamples - s)
        w, v = _case_counts(rng, m, b), _case_counts(rng, n, b)
        reps[s : s + b] = ((w @ d) * v).sum(1) / (m * n)
    return reps


def case_bootstrap_var(d: np.ndarray) -> float:
    """Exact variance of :func:`_case_replicates` (the infinite-resample limit) in O(m n).

    With multinomial counts, E[w_i w_k] = 1 - 1/m + [i = k] (likewise v, n), so for
    ``Delta* = w^T d v / (m n)``: E[Delta*^2] (m n)^2 = (1-1/m)(1-1/n) S^2 + (1-1/m) sum_j C_j^2
    + (1-1/n) sum_i R_i^2 + sum_ij d_ij^2 (S: total, R: row sums, C: column sums)."""
    d = np.asarray(d, dtype=float)
    m, n = d.shape
    a, b = 1 - 1 / m, 1 - 1 / n
    s = d.sum()
    second = (a * b * s**2 + a * (d.sum(0) ** 2).sum() + b * (d.sum(1) ** 2).sum() + (d**2).sum()) / (m * n) ** 2
    return float(max(second - (s / (m * n)) ** 2, 0.0))


def case_bootstrap_p(runs: list[PairedRun]) -> float:
    """The case-only bootstrap's p (:func:`paired_comparison`: normal, from the replicates' sd)
    without its Monte-Carlo error: the replicates' variance in closed form. Used where many small
    tests are needed at once (the A/A check's blocks)."""
    ds = [r.kernel_difference() for r in runs]
    point = float(np.mean([d.mean() for d in ds]))
    sd = float(np.sqrt(sum(case_bootstrap_var(d) for d in ds)) / len(ds))
    return float(2 * sps.norm.sf(abs(point) / sd)) if sd > 0 else (1.0 if point == 0 else 0.0)


# ------------------------------------------------- case-only comparison (conditional on the models)


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap over test cases only: conditional on these trained models, silent about
    how much a retrained model would differ (see :func:`verdict` for the test of the variants)."""

    delta: float  # mean over splits of AUC(a) - AUC(b)
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


def split_delta(run: PairedRun) -> tuple[float, float]:
    """ΔAUC of one split (mean over its initialisations) and its paired DeLong variance.

    Every model scored on the split's test set enters one DeLong covariance matrix, so the
    correlation between variants (same cases) and between initialisations is accounted for."""
    y = run.labels
    models = np.vstack([np.atleast_2d(run.scores_a), np.atleast_2d(run.scores_b)])
    ka = len(np.atleast_2d(run.scores_a))
    comps = [_midrank_placements(s[y == 1], s[y == 0]) for s in models]
    v10 = np.stack([c[0] for c in comps])
    v01 = np.stack([c[1] for c in comps])
    contrast = np.concatenate([np.full(ka, 1 / ka), np.full(len(models) - ka, -1 / (len(models) - ka))])
    var = contrast @ np.atleast_2d(np.cov(v10)) @ contrast / v10.shape[1] + contrast @ np.atleast_2d(np.cov(v01)) @ contrast / v01.shape[1]
    return float(contrast @ v10.mean(1)), float(max(var, 0.0))


def paired_delong(runs: list[PairedRun]) -> tuple[float, float, float]:
    """Paired DeLong test pooled over splits, case variance only: (mean Delta, its SE, two-sided p)."""
    parts = [split_delta(r) for r in runs]
    delta = float(np.mean([p[0] for p in parts]))
    se = float(np.sqrt(sum(p[1] for p in parts)) / len(runs))
    if se == 0:
        return delta, 0.0, 1.0 if delta == 0 else 0.0
    return delta, se, float(2 * sps.norm.sf(abs(delta) / se))


def paired_comparison(runs: list[PairedRun], n_resamples: int = 10000, level: float = 0.95, method: str = "bca",
                      seed: int = 0) -> Comparison:
    """Case-only paired bootstrap of ΔAUC, averaged over splits (each split resampled on its own)."""
    if not runs:
        raise StatsError("a paired comparison needs at least one seed with both variants")
    if method not in ("bca", "percentile"):
        raise StatsError(f"ci method must be 'bca' or 'percentile', got {method!r}")
    rng = np.random.default_rng(seed)
    ds = [r.kernel_difference() for r in runs]
    reps = np.stack([_case_replicates(d, n_resamples, rng) for d in ds], axis=1)  # (B, S)
    points = np.array([float(d.mean()) for d in ds])
    point = float(points.mean())
    pooled = reps.mean(1)
    # Leave-one-case-out values in closed form: a case left out of split s moves the mean by
    # (Delta_s,-i - Delta_s) / S.
    jack = []
    for d, p in zip(ds, points):
        m, n = d.shape
        loo = np.concatenate([(m * p - d.mean(1)) / (m - 1) if m > 1 else [], (n * p - d.mean(0)) / (n - 1) if n > 1 else []])
        jack.append(point + (loo - p) / len(runs))
    lo, hi = _interval(pooled, point, np.concatenate(jack), level, method)
    sd = pooled.std(ddof=1)
    p_boot = float(2 * sps.norm.sf(abs(point) / sd)) if sd > 0 else (1.0 if point == 0 else 0.0)
    _, se_dl, p_dl = paired_delong(runs)
    return Comparison(point, lo, hi, "BCa" if method == "bca" else "percentile", p_boot, se_dl, p_dl,
                      tuple(float(x) for x in points), n_resamples, level, seed)


# ------------------------------------------------------ the decisive test: variants, not models


@dataclass(frozen=True)
class Verdict:
    """ΔAUC of variant a over baseline b as training recipes: splits (and initialisations) are the
    replicates, so the interval carries the variation between training runs (tau) as well as the
    test-case sampling inside each split."""

    delta: float
    ci_lo: float
    ci_hi: float
    p: float
    se: float
    tau: float  # between-split sd of the true per-split ΔAUC (DerSimonian-Laird)
    df: int
    n_splits: int
    method: str
    per_split: tuple[float, ...]
    level: float

    def to_dict(self) -> dict:
        return asdict(self)


def random_effects(deltas: object, variances: object, level: float = 0.95) -> Verdict:
    """DerSimonian-Laird random-effects mean of per-split ΔAUC with the Hartung-Knapp(-Sidik-
    Jonkman) t interval on S - 1 degrees of freedom (``statsmodels.stats.meta_analysis``)."""
    from statsmodels.stats.meta_analysis import combine_effects

    d = np.asarray(deltas, dtype=float)
    v = np.asarray(variances, dtype=float)
    k = len(d)
    if k < 2:
        raise StatsError(f"a random-effects test needs at least 2 splits, got {k}")
    if not (np.isfinite(d).all() and np.isfinite(v).all()):
        raise StatsError("per-split deltas and variances must be finite")
    # A split whose DeLong variance is 0 (e.g. both models perfect) would take all the weight.
    v = np.maximum(v, 1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = combine_effects(d, v, method_re="dl", use_t=True, alpha=1 - level)
    # statsmodels 0.14-0.15 does not truncate the DL moment estimate at 0: a negative tau² gives
    # negative weights and a NaN HKSJ SE. Truncated DL with tau² = 0 is the fixed-effect model.
    tau2 = float(res.tau2)
    if tau2 > 0:
        mean, se = float(res.mean_effect_re), float(res.sd_eff_w_re_hksj)
    else:
        tau2, mean, se = 0.0, float(res.mean_effect_fe), float(res.sd_eff_w_fe_hksj)
    # Plain Hartung-Knapp, not the "SE >= DL SE" modification: simulated with 3 splits and no true
    # difference, the modification rejected in 0.0-2 % of cases (it falls back to the within-split
    # SE on t(2) whenever tau² = 0), plain HK in 3.9-6.2 % (tests/test_verdict.py).
    t = sps.t.ppf(0.5 + level / 2, k - 1)
    p = float(2 * sps.t.sf(abs(mean) / se, k - 1)) if se > 0 else (1.0 if mean == 0 else 0.0)
    return Verdict(mean, mean - t * se, mean + t * se, p, se, float(np.sqrt(tau2)), k - 1, k,
                   "random effects (DerSimonian-Laird τ², Hartung-Knapp t)", tuple(d.tolist()), level)


def verdict(runs: list[PairedRun], level: float = 0.95, method: str = "split_t") -> Verdict:
    """The decisive test over splits: the per-split paired ΔAUC (with its DeLong variance) combined
    by :func:`split_t` (default) or :func:`random_effects`. Both report the DerSimonian-Laird τ."""
    parts = [split_delta(r) for r in runs]
    d, v = [p[0] for p in parts], [p[1] for p in parts]
    re = random_effects(d, v, level)
    return re if method == "random_effects" else split_t(d, level, re.tau)


def split_bootstrap(runs: list[PairedRun], n_resamples: int = 10000, level: float = 0.95, seed: int = 0) -> Verdict:
    """Bootstrap test of the variants' ΔAUC: splits drawn with replacement, each carrying its
    observed ΔAUC (its test cases kept, as Davison & Hinkley 1997, section 3.8, advise for two-stage
    data: resampling the cases again inside every drawn split counts their variance twice; in
    simulation that version rejected in 0-0.3 % of null cases). With S splits the bootstrap
    variance of a mean is (S-1)/S of the unbiased one, so the SE is scaled by sqrt(S/(S-1)) and the
    interval and p use t on S - 1 degrees of freedom."""
    if len(runs) < 2:
        raise StatsError(f"a split bootstrap needs at least 2 splits, got {len(runs)}")
    return split_bootstrap_deltas([split_delta(r)[0] for r in runs], n_resamples, level, seed)


def split_bootstrap_deltas(deltas: object, n_resamples: int = 10000, level: float = 0.95, seed: int = 0) -> Verdict:
    """:func:`split_bootstrap` on per-split ΔAUC already computed."""
    points = np.asarray(deltas, dtype=float)
    s_n = len(points)
    if s_n < 2:
        raise StatsError(f"a split bootstrap needs at least 2 splits, got {s_n}")
    rng = np.random.default_rng(seed)
    reps = points[rng.integers(0, s_n, size=(n_resamples, s_n))].mean(1)
    point = float(points.mean())
    se = float(reps.std(ddof=1) * np.sqrt(s_n / (s_n - 1)))
    t = sps.t.ppf(0.5 + level / 2, s_n - 1)
    p = float(2 * sps.t.sf(abs(point) / se, s_n - 1)) if se > 0 else (1.0 if point == 0 else 0.0)
    return Verdict(point, point - t * se, point + t * se, p, se, float("nan"), s_n - 1, s_n,
                   "split bootstrap (splits resampled, SE x sqrt(S/(S-1)), t)", tuple(points.tolist()), level)


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
        parts = [split_delta(PairedRun(y, (z + c * y)[0] if np.ndim(r.scores_a) == 1 else z + c * y, r.scores_b))
                 for c in grid]
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


def split_t(deltas: object, level: float = 0.95, tau: float = float("nan")) -> Verdict:
    """The unweighted mean of the per-split ΔAUC with a t interval on S - 1 df. Unlike inverse-
    variance weights, equal weights do not depend on the AUC level (near AUC 1 a split's |ΔAUC|
    and its DeLong variance move together, which shrinks the weighted mean), and the exact power
    of this test is the noncentral t of :func:`t_power`."""
    d = np.asarray(deltas, dtype=float)
    k = len(d)
    if k < 2:
        raise StatsError(f"a t test over splits needs at least 2 splits, got {k}")
    if not np.isfinite(d).all():
        raise StatsError("per-split deltas must be finite")
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(k))
    t = sps.t.ppf(0.5 + level / 2, k - 1)
    p = float(2 * sps.t.sf(abs(mean) / se, k - 1)) if se > 0 else (1.0 if mean == 0 else 0.0)
    return Verdict(mean, mean - t * se, mean + t * se, p, se, tau, k - 1, k,
                   "mean of per-split ΔAUC, t over splits", tuple(d.tolist()), level)


def obf_spent(alpha: float, t: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: the two-sided α spent by information fraction t."""
    return float(2 * (1 - sps.norm.cdf(sps.norm.ppf(1 - alpha / 2) / np.sqrt(t)))) if t > 0 else 0.0


def linear_spent(alpha: float, t: float) -> float:
    """Power-family spending with ρ = 1 (Kim & DeMets 1987): α·t spent by information fraction t,
    a Pocock-like share early on (a quarter of α at the first of four equal looks)."""
    return float(alpha * min(max(t, 0.0), 1.0))


SPENDING = {"obf": obf_spent, "linear": linear_spent}


@functools.lru_cache(maxsize=256)
def sequential_levels(alpha: float, looks: tuple[int, ...], paths: int = 200_000,
                      spending: str = "obf") -> tuple[float, ...]:
    """Nominal two-sided levels for the t test over splits at each look (``looks``: the splits
    recorded at each, the last the maximum), whose overall two-sided error is ``alpha`` under
    the ``spending`` function (:data:`SPENDING`: Lan-DeMets O'Brien-Fleming by default, or linear)
    at information fractions S_k / S_max: look k rejects when
    its p < level k. The t statistics of normal per-split deltas are pivotal, so their joint null
    distribution over the looks is simulated once on ``paths`` seeded paths (deterministic
    levels; z boundaries applied to t tests on 4-19 df overshot α by 6 %); each look spends
    α*(t_k) − α*(t_{k−1}) of all paths among those not yet stopped."""
    rng = np.random.default_rng(20261128)
    n = max(looks)
    x = rng.standard_normal((paths, n)).astype(np.float32)
    csum, csq = np.cumsum(x, axis=1, dtype=np.float64), np.cumsum(x.astype(np.float64) ** 2, axis=1)
    alive = np.ones(paths, dtype=bool)
    levels, spent = [], 0.0
    for s_k in looks:
        mean = csum[:, s_k - 1] / s_k
        var = (csq[:, s_k - 1] - s_k * mean**2) / (s_k - 1)
        p = 2 * sps.t.sf(np.abs(mean) / np.sqrt(var / s_k), s_k - 1)
        target = SPENDING[spending](alpha, s_k / n) - spent
        k = int(round(target * paths))
        pk = np.sort(p[alive])
        level = float(pk[k - 1]) if 0 < k <= len(pk) else 0.0
        stop = alive & (p <= level) if k > 0 else np.zeros(paths, dtype=bool)
        spent += stop.sum() / paths
        alive &= ~stop
        levels.append(level)
    return tuple(levels)


def tost_p(v: Verdict, margin: float) -> float:
    """Two one-sided tests of |Δ| < ``margin`` on the verdict's own SE and df: the larger of the
    two one-sided p-values (equivalence is shown when it is below α)."""
    if not margin > 0:
        return float("nan")
    if v.se <= 0:
        return 0.0 if abs(v.delta) < margin else 1.0
    lower = sps.t.sf((v.delta + margin) / v.se, v.df)
    upper = sps.t.cdf((v.delta - margin) / v.se, v.df)
    return float(max(lower, upper))


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
    friedman_p: float  # exact (enumerated) below 5 data sets, chi-squared approximation from 5
    critical_difference: float

    def to_dict(self) -> dict:
        return asdict(self)


def friedman_exact_p(stat: float, k: int, n: int) -> float:
    """P(Friedman statistic >= stat) under H0 by enumerating every within-data-set ranking (no
    ties): the rank-sum vectors are convolved data set by data set. The chi-squared approximation
    is poor with fewer than about 5 data sets."""
    stats_, counts = _friedman_null(k, n)
    return float(counts[stats_ >= stat - 1e-9].sum() / counts.sum())


@functools.lru_cache(maxsize=32)
def _friedman_null(k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact null distribution of the Friedman statistic for k treatments on n blocks: (values,
    counts). The statistic depends on the rank sums only through their multiset, so the
    convolution runs over sorted rank-sum vectors (a k!-fold smaller state space)."""
    import itertools
    from collections import Counter

    perms = list(itertools.permutations(range(1, k + 1)))
    dist: Counter = Counter({(0,) * k: 1})
    for _ in range(n):
        nxt: Counter = Counter()
        for sums, c in dist.items():
            for perm in perms:
                nxt[tuple(sorted(a + b for a, b in zip(sums, perm)))] += c
        dist = nxt
    values = Counter()
    for sums, c in dist.items():
        values[12 / (n * k * (k + 1)) * sum(r * r for r in sums) - 3 * n * (k + 1)] += c
    keys = sorted(values)
    return np.array(keys), np.array([values[x] for x in keys], dtype=float)


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
        stat = float(sps.friedmanchisquare(*scores.T).statistic)
        p = friedman_exact_p(stat, k, n) if n < 5 else float(sps.chi2.sf(stat, k - 1))
    q = sps.studentized_range.ppf(1 - alpha, k, 1e6) / np.sqrt(2)
    cd = float(q * np.sqrt(k * (k + 1) / (6 * n)))
    return RankSummary(variants, tuple(float(r) for r in mean_ranks), n, stat, p, cd)
