"""Two models on one test set: paired DeLong per split, and the case-only bootstrap of ΔAUC
over splits (conditional on these trained models)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property

import numpy as np
from scipy import stats as sps

from ..errors import StatsError
from ..metrics import check_binary
from .auc import _midrank_placements


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

    @cached_property
    def delta_and_variance(self) -> tuple[float, float]:
        """:func:`split_delta`, computed once per run (the analysis asks for it from several places)."""
        y = self.labels
        models = np.vstack([np.atleast_2d(self.scores_a), np.atleast_2d(self.scores_b)])
        return _delta_and_variance([_midrank_placements(s[y == 1], s[y == 0]) for s in models],
                                   len(np.atleast_2d(self.scores_a)))


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
    return _shared_case_replicates([d], n_resamples, rng)[0]


def _shared_case_replicates(ds: list[np.ndarray], n_resamples: int, rng: np.random.Generator,
                            runs: list[PairedRun] | None = None) -> list[np.ndarray]:
    """:func:`_case_replicates` of several kernel differences of one shape (variants scored on the
    same test set) from one set of case counts: each gets the replicates it would get alone from
    ``rng`` in this state (drawing the counts is a third of the bootstrap's time). With the
    splits' ``runs`` (one model a side) the products come from sorted scores (:func:`_kernel_sums`,
    each model once, the baseline shared) instead of the (B, m) x (m, n) matrix product: the same
    floats, since both are exact below 2 m n < 2**24."""
    m, n = ds[0].shape
    sorted_path = (runs is not None and 2 * m * n < 2**24
                   and all(np.ndim(r.scores_a) == 1 and np.ndim(r.scores_b) == 1 for r in runs))
    reps = [np.empty(n_resamples) for _ in ds]
    step = max(1, 4_000_000 // max(m, n))  # bounded memory for large test sets
    for s in range(0, n_resamples, step):
        b = min(step, n_resamples - s)
        w, v = _case_counts(rng, m, b), _case_counts(rng, n, b)
        if sorted_path:
            wt, vt = np.ascontiguousarray(w.T), np.ascontiguousarray(v.T)
            done: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (labels, scores, sums): the baseline once

            def sums(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
                for y0, s0, val in done:
                    if np.array_equal(y0, y) and np.array_equal(s0, scores):
                        return val
                done.append((y, scores, _kernel_sums(scores[y == 1], scores[y == 0], wt, vt)))
                return done[-1][2]

            for out, r in zip(reps, runs):
                twice = sums(r.labels, r.scores_a) - sums(r.labels, r.scores_b)
                out[s : s + b] = (twice / 2).astype(np.float32) / np.float32(m * n)
        else:
            for out, d in zip(reps, ds):
                out[s : s + b] = ((w @ d) * v).sum(1) / (m * n)
    return reps


def _kernel_sums(pos: np.ndarray, neg: np.ndarray, wt: np.ndarray, vt: np.ndarray) -> np.ndarray:
    """(B,) twice w_b^T H v_b for one model (H: its positive-vs-negative kernel, ties 1/2) and case
    counts ``wt`` (m, B), ``vt`` (n, B): with the negatives sorted, each positive's row of H is a
    run of ones, so w^T H v = sum_i w_i (counts of the negatives below pos_i, ties halved)."""
    order = np.argsort(neg, kind="stable")
    below = np.empty((len(neg) + 1, wt.shape[1]), dtype=np.float32)
    below[0] = 0
    np.cumsum(vt[order], axis=0, out=below[1:])
    lo, hi = np.searchsorted(neg[order], pos, "left"), np.searchsorted(neg[order], pos, "right")
    return np.einsum("ib,ib->b", wt, below[lo]) + np.einsum("ib,ib->b", wt, below[hi])


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
    return run.delta_and_variance


def _delta_and_variance(comps: list[tuple[np.ndarray, np.ndarray]], ka: int) -> tuple[float, float]:
    """:func:`split_delta` from each model's DeLong placements (V10, V01), the variant's ``ka``
    initialisations first, then the baseline's."""
    contrast = np.concatenate([np.full(ka, 1 / ka), np.full(len(comps) - ka, -1 / (len(comps) - ka))])
    return _contrast_and_variance(comps, contrast)


def _contrast_and_variance(comps: list[tuple[np.ndarray, np.ndarray]], contrast: np.ndarray) -> tuple[float, float]:
    """``contrast`` @ the models' AUCs and its DeLong variance, from each model's placements."""
    v10 = np.stack([c[0] for c in comps])
    v01 = np.stack([c[1] for c in comps])
    var = contrast @ np.atleast_2d(np.cov(v10)) @ contrast / v10.shape[1] + contrast @ np.atleast_2d(np.cov(v01)) @ contrast / v01.shape[1]
    return float(contrast @ v10.mean(1)), float(max(var, 0.0))


def contrast_delta(labels: object, groups: list[object], signs: list[float]) -> tuple[float, float]:
    """sum_g sign_g x (mean AUC of group g's models) on one test set, and its DeLong variance. Each
    group holds one row of scores per initialisation; every model enters one DeLong covariance
    matrix, so the correlation of models scored on the same cases is accounted for. Groups (a, b)
    with signs (+1, -1) give :func:`split_delta`; (a, b under one protocol, a, b under another)
    with (+1, -1, -1, +1) the difference of the two protocols' ΔAUC on the same test images."""
    if len(groups) != len(signs) or not groups:
        raise StatsError(f"a contrast needs one sign per group of models, got {len(groups)} groups, {len(signs)} signs")
    rows = [np.atleast_2d(np.asarray(g, dtype=float)) for g in groups]
    y = None
    for g in rows:
        for r in g:
            y, _ = check_binary(labels if y is None else y, r, "scores")
    comps = [_midrank_placements(r[y == 1], r[y == 0]) for g in rows for r in g]
    contrast = np.concatenate([np.full(len(g), s / len(g)) for g, s in zip(rows, signs)])
    return _contrast_and_variance(comps, contrast)


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
    return paired_comparisons([runs], n_resamples, level, method, seed)[0]


def paired_comparisons(many: list[list[PairedRun]], n_resamples: int = 10000, level: float = 0.95,
                       method: str = "bca", seed: int = 0) -> list[Comparison]:
    """:func:`paired_comparison` of several variants against one baseline, each the same as alone:
    variants whose splits have the same test-set shapes (the usual case: one data set's splits)
    share the case counts, which are drawn from the same seed either way."""
    if any(not runs for runs in many):
        raise StatsError("a paired comparison needs at least one seed with both variants")
    if method not in ("bca", "percentile"):
        raise StatsError(f"ci method must be 'bca' or 'percentile', got {method!r}")
    kernels = [[r.kernel_difference() for r in runs] for runs in many]
    # The counts of split s depend on the shapes of splits 0..s: a variant whose shapes begin with
    # another's (fewer splits: concluded at an earlier look) shares that one's draws.
    shapes = [tuple(d.shape for d in ds) for ds in kernels]
    streams: list[list[int]] = []
    for i in sorted(range(len(many)), key=lambda i: -len(shapes[i])):
        home = next((g for g in streams if shapes[g[0]][: len(shapes[i])] == shapes[i]), None)
        (home.append(i) if home is not None else streams.append([i]))
    reps: dict[int, list[np.ndarray]] = {i: [] for i in range(len(many))}
    for members in streams:
        rng = np.random.default_rng(seed)
        for s in range(len(shapes[members[0]])):
            here = [i for i in members if len(shapes[i]) > s]
            for i, r in zip(here, _shared_case_replicates([kernels[i][s] for i in here], n_resamples, rng,
                                                          [many[i][s] for i in here])):
                reps[i].append(r)
    return [_comparison(runs, ds, np.stack(reps[i], axis=1), n_resamples, level, method, seed)
            for i, (runs, ds) in enumerate(zip(many, kernels))]


def _comparison(runs: list[PairedRun], ds: list[np.ndarray], reps: np.ndarray, n_resamples: int, level: float,
                method: str, seed: int) -> Comparison:
    """The comparison from each split's kernel difference ``ds`` and the replicates ``reps`` (B, S)."""
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
