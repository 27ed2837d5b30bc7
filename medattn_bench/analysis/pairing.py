"""Summaries of a variant's runs, the pairing of a variant's runs with the baseline's by split,
and the decisive test (and the second opinion) on the paired splits."""

from __future__ import annotations

import statistics

import numpy as np

from ..errors import RecordError
from ..records import RunRecord
from ..stats import PairedRun, Verdict, random_effects, split_bootstrap, split_bootstrap_deltas, split_t, verdict
from ..settings import StatsSpec
from .model import SECOND, VariantSummary


def _finite_mean_sd(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else float("nan"))


def summarize(variant: str, runs: dict[tuple[int, int], RunRecord]) -> VariantSummary:
    ok = [r for _, r in sorted(runs.items()) if r.ok]
    mean, sd = _finite_mean_sd([r.metrics.auc for r in ok])
    return VariantSummary(variant, {k: (r if r.ok else None) for k, r in sorted(runs.items())}, mean, sd,
                          _finite_mean_sd([r.metrics.ece for r in ok]), _finite_mean_sd([r.metrics.brier for r in ok]),
                          dict(sorted(runs.items())))


def paired_runs(a: dict[tuple[int, int], RunRecord], b: dict[tuple[int, int], RunRecord],
                where: str) -> tuple[list[PairedRun], list[int]]:
    """One PairedRun per split seed where both variants have successful runs, every init of each
    stacked; the runs are checked to hold the same test cases in the same order."""
    runs, seeds = [], []
    for seed in sorted({k[0] for k in a} & {k[0] for k in b}):
        ra = [r for k, r in sorted(a.items()) if k[0] == seed and r.ok]
        rb = [r for k, r in sorted(b.items()) if k[0] == seed and r.ok]
        if not ra or not rb:
            continue
        ids = ra[0].test.ids
        for r in ra + rb:
            if r.test.ids != ids:
                raise RecordError(f"{where}, seed {seed}: runs were tested on different cases ({ra[0].path} vs "
                                  f"{r.path}); records from different splits cannot be paired")
        runs.append(PairedRun.checked(ra[0].test.labels, [r.test.scores for r in ra], [r.test.scores for r in rb]))
        seeds.append(seed)
    return runs, seeds


def _one_test(runs: list[PairedRun], st: StatsSpec, name: str) -> Verdict:
    if name == "split_bootstrap":
        return split_bootstrap(runs, st.n_resamples, st.ci_level, st.seed)
    return verdict(runs, st.ci_level, name)


def _tests(runs: list[PairedRun], st: StatsSpec) -> tuple[Verdict | None, Verdict | None]:
    """The suite's decisive test and the second opinion shown beside it."""
    if len(runs) < 2:
        return None, None
    return _one_test(runs, st, st.test), _one_test(runs, st, SECOND[st.test])


def _is_aa(runs: dict[tuple[int, int], RunRecord], base: dict[tuple[int, int], RunRecord]) -> bool:
    """A row that trains exactly the baseline's recipe (same block and hparams) is an A/A copy."""
    ra, rb = next(iter(runs.values()), None), next(iter(base.values()), None)
    return bool(ra and rb and ra.run.attention == rb.run.attention and ra.run.hparams == rb.run.hparams)


def _decisive_from_parts(deltas: np.ndarray, variances: np.ndarray, st: StatsSpec) -> Verdict:
    """The suite's decisive test on per-split (ΔAUC, DeLong variance) already computed: the same
    delta, interval and p as :func:`_one_test` on the runs (τ is left out where the test does not
    use it), without re-computing every split's DeLong for each block and look of the A/A check."""
    if st.test == "random_effects":
        return random_effects(deltas, variances, st.ci_level)
    if st.test == "split_bootstrap":
        return split_bootstrap_deltas(deltas, st.n_resamples, st.ci_level, st.seed)
    return split_t(deltas, st.ci_level)
