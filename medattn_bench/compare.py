"""``medattn-bench compare``: one pair of variants in full detail, per split and combined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from .analysis import TESTS, group, paired_runs
from .errors import RecordError
from .records import load_records, load_suite_infos
from .stats import delong_ci, paired_comparison, split_bootstrap, split_delta, verdict
from .settings import StatsSpec


def compare_report(records_dir: Path, a: str, b: str, dataset: str | None = None, suite: str | None = None,
                   warn=lambda line: None) -> str:
    """The report; ``warn`` gets one line per record file not used (unreadable, inconsistent,
    misfiled or a duplicate claim), as the leaderboard names them."""
    from .records.trust import vet

    recs, problems = load_records(records_dir)
    recs, unused, _ = vet(recs)
    for line in problems + [u.line() for u in unused]:
        warn(line)
    if not recs:
        raise RecordError(f"{records_dir}: no run records found" if not (problems or unused) else
                          f"{records_dir}: no usable run records ({len(problems) + len(unused)} not used, named above)")
    grouped = group(recs)
    if suite is None:
        if len(grouped) > 1:
            raise RecordError(f"{records_dir} holds suites {sorted(grouped)}; pick one with --suite")
        suite = next(iter(grouped))
    if suite not in grouped:
        raise RecordError(f"--suite {suite!r}: not in {records_dir}; available: {', '.join(sorted(grouped))}")
    infos, _ = load_suite_infos(records_dir)
    st = StatsSpec.model_validate(infos[suite].stats) if suite in infos else StatsSpec()
    datasets = grouped[suite]
    out = []
    for ds in [dataset] if dataset else sorted(datasets):
        if ds not in datasets:
            raise RecordError(f"--dataset {ds!r}: no records in suite {suite!r}; available: {', '.join(sorted(datasets))}")
        variants = datasets[ds]
        for v, flag in ((a, "--a"), (b, "--b")):
            if v not in variants:
                raise RecordError(f"{flag} {v!r}: no records for data set {ds!r}; available: {', '.join(sorted(variants))}")
        runs, seeds = paired_runs(variants[a], variants[b], f"{ds}: {a} vs {b}")
        if not runs:
            out.append(f"{ds}: no seed where both {a} and {b} succeeded")
            continue
        rows = []
        for seed, r in zip(seeds, runs):
            one = paired_comparison([r], st.n_resamples, st.ci_level, st.ci_method, st.seed)
            delta, var = split_delta(r)
            auc_a, auc_b = (np.mean([delong_ci(r.labels, s).auc for s in np.atleast_2d(x)]) for x in (r.scores_a, r.scores_b))
            rows.append([seed, len(r.labels), f"{100 * auc_a:.2f}", f"{100 * auc_b:.2f}", f"{100 * delta:+.2f}",
                         f"{100 * var ** 0.5:.2f}", f"[{100 * one.ci_lo:+.2f}, {100 * one.ci_hi:+.2f}]",
                         f"{one.p_bootstrap:.3f}", f"{one.p_delong:.4f}"])
        level = int(round(100 * st.ci_level))
        out.append(f"suite {suite}, data set {ds}: {a} vs {b} (AUC and ΔAUC in points)")
        out.append(tabulate(rows, ["seed", "n test", f"AUC {a}", f"AUC {b}", "ΔAUC", "DeLong SE",
                                   f"case-only {level}% CI", "p case bootstrap", "p DeLong"],
                            tablefmt="simple", disable_numparse=True))
        if len(runs) >= 2:
            for v in (verdict(runs, st.ci_level, "split_t"), verdict(runs, st.ci_level, "random_effects"),
                      split_bootstrap(runs, st.n_resamples, st.ci_level, st.seed)):
                tau = "" if v.tau != v.tau else f", τ {100 * v.tau:.2f}"
                out.append(f"{v.method}: ΔAUC {100 * v.delta:+.2f} [{100 * v.ci_lo:+.2f}, {100 * v.ci_hi:+.2f}], "
                           f"p {v.p:.4f} (t on {v.df} df{tau})")
        pooled = paired_comparison(runs, st.n_resamples, st.ci_level, st.ci_method, st.seed)
        out.append(f"case-only bootstrap over all splits ({pooled.n_resamples} resamples, {pooled.ci_method}; "
                   f"conditional on these trained models): ΔAUC {100 * pooled.delta:+.2f} "
                   f"[{100 * pooled.ci_lo:+.2f}, {100 * pooled.ci_hi:+.2f}], p {pooled.p_bootstrap:.4f}")
        out.append(f"decisive test of this suite: {TESTS[st.test]}; p-values here are unadjusted.")
        out.append("")
    return "\n".join(out).rstrip()
