"""The A/A check: a variant that repeats the baseline's recipe (another initialisation) measures
the tests' false-positive rates on real training noise, over every subset of splits."""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats as sps

from ..stats import PairedRun, case_bootstrap_p, random_effects, split_delta, tost_p
from ..settings import StatsSpec
from .model import AAResult, MAX_AA_SUBSETS
from .pairing import _decisive_from_parts


def _aa_result(ds: str, v: str, runs: list[PairedRun], st: StatsSpec) -> AAResult:
    block = st.aa_block
    parts = [split_delta(r) for r in runs]
    deltas = np.array([p[0] for p in parts])
    variances = np.array([p[1] for p in parts])
    starts = range(0, len(runs) - block + 1, block)
    blocks = [runs[i : i + block] for i in starts]
    dec = case = 0
    for i, b in zip(starts, blocks):
        dec += _decisive_from_parts(deltas[i : i + block], variances[i : i + block], st).p < st.alpha
        # The case-only bootstrap's p with its replicates' variance in closed form (no resampling).
        case += case_bootstrap_p(b) < st.alpha

    def ci(k: int, n: int | None = None) -> tuple[float, float]:
        n = len(blocks) if n is None else n
        if not n:
            return float("nan"), float("nan")
        r = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
        return float(r.low), float(r.high)

    n_all = math.comb(len(runs), block)
    if n_all > MAX_AA_SUBSETS:  # a seeded sample keeps the render (and CI's board check) fast
        pick = np.random.default_rng(st.seed).choice(n_all, MAX_AA_SUBSETS, replace=False)
        subsets = [_combination_at(len(runs), block, int(i)) for i in sorted(pick)]
    else:
        subsets = list(itertools.combinations(range(len(runs)), block))
    dec_all = case_all = 0
    if subsets:
        sel = np.array(subsets)
        if st.test == "random_effects":
            dec_all = sum(random_effects(deltas[s], variances[s], st.ci_level).p < st.alpha for s in sel)
        else:  # split_t on each subset (a split bootstrap's twin: the t test on the same deltas), all at once
            dec_all = int((_split_t_p(deltas[sel]) < st.alpha).sum())
        z = deltas[sel].mean(1) / (np.sqrt(variances[sel].sum(1)) / block)
        case_all = int((2 * sps.norm.sf(np.abs(z)) < st.alpha).sum())
    n_sub = max(len(subsets), 1)
    out = AAResult(ds, v, len(runs), block, len(blocks), dec, case, ci(dec), ci(case),
                   float(np.std(deltas, ddof=1)) if len(deltas) > 1 else float("nan"), len(subsets),
                   dec_all / n_sub, case_all / n_sub, n_all)
    if st.aa_looks:
        looks = tuple(st.aa_looks)
        seq = [runs[i : i + looks[-1]] for i in range(0, len(runs) - looks[-1] + 1, looks[-1])]
        hits, equiv, used = _aa_sequential(seq, looks, st, parts)
        out.looks, out.seq_blocks, out.seq_hits, out.seq_equivalent = looks, len(seq), hits, equiv
        out.seq_ci = ci(hits, len(seq))
        out.seq_mean_splits = float(np.mean(used)) if used else float("nan")
    return out


def _split_t_p(d: np.ndarray) -> np.ndarray:
    """:func:`~medattn_bench.stats.split_t`'s p for each row of ``d`` (subsets x splits)."""
    k = d.shape[1]
    mean, se = d.mean(1), d.std(1, ddof=1) / np.sqrt(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * sps.t.sf(np.abs(mean) / se, k - 1)
    return np.where(se > 0, p, np.where(mean == 0, 1.0, 0.0))


def _combination_at(n: int, k: int, rank: int) -> tuple[int, ...]:
    """The ``rank``-th k-subset of range(n) in ``itertools.combinations`` order, without listing
    the ones before it: lexicographic rank r is C(n, k) - 1 - sum_i C(n-1-c_i, k-i), so the
    complement's digits are found greedily in the combinatorial number system."""
    left = math.comb(n, k) - 1 - rank
    out, hi = [], n - 1
    for j in range(k, 0, -1):
        lo = j - 1  # the largest d <= hi with C(d, j) <= left
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if math.comb(mid, j) <= left else (lo, mid - 1)
        left -= math.comb(lo, j)
        out.append(n - 1 - lo)
        hi = lo - 1
    return tuple(out)


def _aa_sequential(blocks: list[list[PairedRun]], looks: tuple[int, ...], st: StatsSpec,
                   parts: list[tuple[float, float]] | None = None) -> tuple[int, int, list[int]]:
    """Each block one sequential suite with a single comparison, judged exactly as
    ``_sequential_verdicts`` judges a suite (m = 1): at look k, a false positive when the decisive
    p is below the look's O'Brien-Fleming level, a stop when the TOST p is below the one-sided
    level, else the next look. Returns (false positives, stops as equivalent, splits used).
    ``parts``: the per-split (ΔAUC, DeLong variance) of the blocks' runs in order, if known."""
    from ..stats import sequential_levels

    two = sequential_levels(st.alpha, looks)
    one = tuple(x / 2 for x in sequential_levels(min(2 * st.alpha, 0.999), looks))
    hits = equiv = 0
    used = []
    at = 0
    for b in blocks:
        bp = parts[at : at + len(b)] if parts is not None else [split_delta(r) for r in b]
        at += len(b)
        deltas, variances = np.array([p[0] for p in bp]), np.array([p[1] for p in bp])
        for k, n in enumerate(looks):
            if n < 2:
                continue
            d = _decisive_from_parts(deltas[:n], variances[:n], st)
            if d.p < two[k]:
                hits += 1
                break
            pe = tost_p(d, st.margin / 100)
            if np.isfinite(pe) and pe < one[k]:
                equiv += 1
                break
        used.append(n)
    return hits, equiv, used
