"""The A/A check: a variant that repeats the baseline's recipe (another initialisation) measures
the tests' false-positive rates on real training noise, over every subset of splits."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats as sps

from ..stats import PairedRun, case_bootstrap_p, random_effects, split_delta, split_t, tost_p
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

    subsets = list(itertools.combinations(range(len(runs)), block))
    n_all = len(subsets)
    if n_all > MAX_AA_SUBSETS:  # a seeded sample keeps the render (and CI's board check) fast
        pick = np.random.default_rng(st.seed).choice(n_all, MAX_AA_SUBSETS, replace=False)
        subsets = [subsets[i] for i in sorted(pick)]
    dec_all = case_all = 0
    for sub in subsets:
        sel = list(sub)
        sub = (random_effects(deltas[sel], variances[sel], st.ci_level) if st.test == "random_effects"
               else split_t(deltas[sel], st.ci_level))  # a split bootstrap's twin: the t test on the same deltas
        dec_all += sub.p < st.alpha
        z = deltas[sel].mean() / (np.sqrt(variances[sel].sum()) / block)
        case_all += 2 * sps.norm.sf(abs(z)) < st.alpha
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
