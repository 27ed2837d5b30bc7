"""``medattn-bench compare``: one pair of variants in full detail."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from .errors import RecordError
from .leaderboard import group, paired_runs
from .results import load_records
from .stats import delong_ci, paired_comparison


def compare_report(records_dir: Path, a: str, b: str, dataset: str | None = None, suite: str | None = None) -> str:
    recs, problems = load_records(records_dir)
    if not recs:
        raise RecordError(f"{records_dir}: no run records found" + (f" ({len(problems)} unreadable)" if problems else ""))
    grouped = group(recs)
    if suite is None:
        if len(grouped) > 1:
            raise RecordError(f"{records_dir} holds suites {sorted(grouped)}; pick one with --suite")
        suite = next(iter(grouped))
    if suite not in grouped:
        raise RecordError(f"--suite {suite!r}: not in {records_dir}; available: {', '.join(sorted(grouped))}")
    datasets = grouped[suite]
    names = [dataset] if dataset else sorted(datasets)
    out = []
    for ds in names:
        if ds not in datasets:
            raise RecordError(f"--dataset {ds!r}: no records in suite {suite!r}; available: {', '.join(sorted(datasets))}")
        variants = datasets[ds]
        for v, flag in ((a, "--a"), (b, "--b")):
            if v not in variants:
                raise RecordError(f"{flag} {v!r}: no records for data set {ds!r}; available: {', '.join(sorted(variants))}")
        any_rec = next(iter(variants[a].values()))
        st = any_rec.get("stats_settings", {})
        runs, seeds = paired_runs(variants[a], variants[b], f"{ds}: {a} vs {b}")
        if not runs:
            out.append(f"{ds}: no seed where both {a} and {b} succeeded")
            continue
        rows = []
        for seed, r in zip(seeds, runs):
            one = paired_comparison([r], st.get("n_resamples", 2000), st.get("ci_level", 0.95), st.get("ci_method", "bca"),
                                    st.get("seed", 0))
            ca, cb = delong_ci(r.labels, r.scores_a), delong_ci(r.labels, r.scores_b)
            rows.append([seed, len(r.labels), f"{ca.auc:.4f}", f"{cb.auc:.4f}", f"{one.delta:+.4f}",
                         f"[{one.ci_lo:+.4f}, {one.ci_hi:+.4f}]", f"{one.p_bootstrap:.4f}", f"{one.p_delong:.4f}"])
        pooled = paired_comparison(runs, st.get("n_resamples", 2000), st.get("ci_level", 0.95), st.get("ci_method", "bca"),
                                   st.get("seed", 0), st.get("hierarchical", False))
        rows.append(["pooled", sum(len(r.labels) for r in runs), "", "", f"{pooled.delta:+.4f}",
                     f"[{pooled.ci_lo:+.4f}, {pooled.ci_hi:+.4f}]", f"{pooled.p_bootstrap:.4f}", f"{pooled.p_delong:.4f}"])
        level = int(round(100 * pooled.level))
        out.append(f"suite {suite}, data set {ds}: {a} vs {b}")
        out.append(tabulate(rows, ["seed", "n test", f"AUC {a}", f"AUC {b}", "ΔAUC", f"{level}% CI", "p bootstrap",
                                   "p DeLong"], tablefmt="simple", disable_numparse=True))
        out.append(f"CI: paired stratified bootstrap, {pooled.n_resamples} resamples, {pooled.ci_method}, seed "
                   f"{pooled.seed}; pooled = mean over seeds. p bootstrap: z = Δ/sd(Δ*) (pROC roc.test); "
                   f"p DeLong: paired DeLong z-test (pooled SE {pooled.delong_delta_se:.4f}). Unadjusted p-values.")
        out.append("")
    return "\n".join(out).rstrip()
