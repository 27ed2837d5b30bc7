"""The decisive test of two training recipes over splits (a t over per-split ΔAUC, random
effects, or a bootstrap over splits), equivalence (TOST) and multiplicity adjustment."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from ..errors import StatsError
from .paired import PairedRun, split_delta


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
