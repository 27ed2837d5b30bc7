"""Across data sets: average ranks and Friedman's test with its exact null."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps


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
