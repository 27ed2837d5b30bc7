"""The statistics of a suite in words: the decisive test, multiplicity, α about new patients, the
summary across data sets and where the runs came from."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from ..analysis import SECOND, TESTS, SuiteAnalysis
from .format import _fmt_p, _pct
from .sections import CORRECTIONS
from .tables import _margin


def _summary(a: SuiteAnalysis) -> str:
    names = sorted(a.datasets)
    rs = a.ranks
    rank_of = dict(zip(rs.variants, rs.mean_ranks))
    out = [[v] + [_pct(a.rank_table.get(v, {}).get(d, float("nan"))) for d in names]
           + [f"{rank_of[v]:.2f}" if v in rank_of and np.isfinite(rank_of[v]) else "–"] for v in a.order]
    text = [tabulate(out, ["Variant"] + [f"{d} mean AUC %" for d in names] + ["Mean rank (1 = best)"],
                     tablefmt="github", disable_numparse=True), ""]
    if len(rs.variants) >= 3 and rs.n_datasets >= 2:
        how = "exact" if rs.n_datasets < 5 else "χ² approximation"
        text.append(f"Friedman χ² = {rs.friedman_stat:.2f} (p = {_fmt_p(rs.friedman_p)}, {how}) over {rs.n_datasets} "
                    f"data sets; Nemenyi critical difference at α = 0.05: {rs.critical_difference:.2f} ranks.")
        text.append("")
    if rs.n_datasets == 1:
        text.append("One data set: the rank is the order of mean AUCs; the test that decides is the seed-level "
                    "comparison above.")
    elif rs.n_datasets > 1:
        text.append(f"Ranks across data sets are descriptive. With {rs.n_datasets} data sets a Wilcoxon signed-rank "
                    f"test cannot reach p < 0.05 (its smallest two-sided p is {2 / 2 ** rs.n_datasets:.3f}); the "
                    f"tests that decide are the seed-level comparisons within each data set, "
                    f"{CORRECTIONS[a.settings.correction]}-adjusted across the suite.")
    return "\n".join(text)


def _statistics_prose(a: SuiteAnalysis) -> str:
    st = a.settings
    level = int(round(100 * st.ci_level))
    other = TESTS[SECOND[st.test]]
    corr = CORRECTIONS[st.correction]
    pooled = ("the unweighted mean of the per-split paired ΔAUC (each split's ΔAUC averages its initialisations), "
              "with a t interval on splits − 1 df: equal weights, because near AUC 1 inverse-variance weights "
              "shrink the estimate (benchmarks/sim_pooled.py)" if st.test == "split_t" else TESTS[st.test])
    over = (f"over {a.n_comparisons} comparison{'s' if a.n_comparisons != 1 else ''} with baseline `{a.baseline}`"
            if a.n_comparisons else "this suite compares no variant with its baseline: its other rows are A/A copies, "
                                    "judged in the A/A table")
    return (f"- Statistics: the decisive test is {pooled}, so its CI carries the variation between training runs. "
            f"Verdicts: *better* / *worse* when the {corr}-adjusted p < {st.alpha} ({over}; `*` and bold); *equivalent* when two one-sided tests put ΔAUC inside "
            f"{_margin(a)} ({corr}-adjusted p < {st.alpha}); otherwise *inconclusive*. CIs are {level} % and "
            f"unadjusted. The {other} is shown as a second opinion (unadjusted p). The case-only bootstrap "
            f"({st.n_resamples} stratified resamples, {st.ci_method} CI, seed {st.seed}) is conditional on these "
            "trained models: it says whether these models differ, not whether the recipes do. ECE: 15 equal-width "
            "bins, top-label confidence." + _family_prose(a) + _overlap_prose(a))


# The decisive test's rejection rate (%) for a true null about new patients, where a test case's
# contribution to ΔAUC correlates about 0.3 and about 0.6 between the splits that test it (the range
# the reference board's records show for SE, CBAM and ECA), by the number of splits:
# benchmarks/results/sim-population-*.json (python benchmarks/sim_overlap.py --population);
# tests/test_verdict.py checks these against the newest result.
POPULATION_FPR = {"stratified": {5: (6.9, 8.9), 10: (9.3, 15.6), 15: (13.2, 21.6), 20: (14.7, 27.2)},
                  "kfold": {5: (5.0, 4.6), 10: (8.3, 8.7), 20: (11.6, 22.5)}}


def _population_rate(kind: str, n: int) -> str:
    table = POPULATION_FPR[kind]
    k = min(table, key=lambda s: (abs(s - n), s))
    lo, hi = table[k]
    return f"{min(lo, hi):.0f}-{max(lo, hi):.0f} % with {'about ' if k != n else ''}{k} splits"


def _family_prose(a: SuiteAnalysis) -> str:
    """The multiplicity policy of a board that grows, in one sentence."""
    fam = a.info.family
    if not fam:
        return ""
    compared = {r.variant for d in a.datasets.values() for r in d.comparisons.values()}
    own = [v for v in a.order if v in fam and v in compared]
    added = sorted(v for v in compared if v not in fam)
    if not own and not added:  # nothing compared (an A/A suite): no family to speak of
        return ""
    text = (f" Multiplicity: the suite's own rows ({', '.join(own)}) form one {CORRECTIONS[a.settings.correction]} family; "
            "a block added later is judged in a family of its own, over its data sets, so adding a block moves "
            "no other row's verdict or adjusted p")
    return text + (f" (added here: {', '.join(added)})." if added else ".")


def _overlap_prose(a: SuiteAnalysis) -> str:
    kinds = a.provenance.get("split_kinds") or []
    n = max((r.decisive.n_splits for d in a.datasets.values() for r in d.comparisons.values() if r.decisive),
            default=0)
    where = ("where two recipes disagree about particular cases as the reference board's records show (a case's "
             "contribution to ΔAUC correlated 0.3-0.6 between the splits that test it)")
    if "stratified" in kinds:
        return (" Each split seed draws its test set afresh from the same data set, so test sets share about "
                "a fifth of their cases: the verdicts' α is about the recipes on this data set. As a claim about "
                f"new patients from the same source it is not: {where}, a true null about new patients is rejected "
                f"in {_population_rate('stratified', max(n, 5))} (benchmarks/sim_overlap.py --population; "
                "docs/statistics.md), more with more splits. Disjoint k-fold test sets hold α for new patients only "
                "with one repeat of the folds and when the recipes' difference does not depend on the training set.")
    if "official" in kinds:
        return (" Every seed scores the data set's official test set: the verdicts' α is about those test images "
                "(the seeds vary training only), not about new patients.")
    if kinds == ["kfold"]:
        if n <= 5:
            return (" Test sets are disjoint folds of one repeat: α also holds for new patients from the same source "
                    "when the recipes' difference does not depend on the training set (docs/statistics.md).")
        return (" Test sets are folds repeated with new shuffles, so each case is tested once per repeat: the verdicts' "
                f"α is about the recipes on this data set; {where}, a true null about new patients is rejected in "
                f"{_population_rate('kfold', n)} (benchmarks/sim_overlap.py --population; docs/statistics.md).")
    return ""


def _cpu_time(p: dict) -> str:
    """The runs' CPU time beside their wall time, naming how many runs recorded it (older records did not)."""
    k = p.get("n_cpu_timed", 0)
    if not k:
        return ""
    which = "" if k == p["n_runs"] else f" over the {k} runs that record it"
    return f", {p['cpu_core_hours']:.2f} core-hours of CPU time{which}"


def provenance_lines(a: SuiteAnalysis) -> list[str]:
    """The suite's file, runs, machines, dates and code, and its statistics in words (a list)."""
    p = a.provenance
    return [f"- Suite file: `{a.info.file}`" + (f" with `--set {' '.join(a.info.overrides)}`" if a.info.overrides else "")
            + f"; {p['n_runs']} runs ({p['n_failed']} failed), {p['wall_hours']:.2f} h of run wall time"
            + _cpu_time(p),
            f"- Machine: {'; '.join(f'{m} [{n} runs]' for m, n in p['machines'])}",
            f"- Records dated {p['dates'][0]}" + (f" to {p['dates'][1]}" if p['dates'][1] != p['dates'][0] else "")
            + f"; code {', '.join(p['commits'])}",
            _statistics_prose(a)]
