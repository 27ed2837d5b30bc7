"""Tidy tables of the analysis, for pandas, papers and the leaderboard page: one row per run and
one row per comparison. Every value is read from :mod:`medattn_bench.analysis` objects (the same
ones the markdown board formats); nothing here computes a statistic. Units: AUC, its CI, ECE and
localisation scores in %, ΔAUC and its CI in AUC points, MACs in G, throughput in images/s."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .analysis import TESTS, SuiteAnalysis
from .records import isa_label, machine_label
from .stable import stable_float

# column -> description (README "Exports" lists these)
RUN_COLUMNS = {
    "suite": "suite name", "dataset": "data set", "variant": "leaderboard row (attention block or label)",
    "role": "baseline, variant, or A/A copy (the baseline's recipe again, another initialisation)",
    "attention": "attention block", "split_seed": "split seed", "init_seed": "initialisation within the split",
    "status": "ok or failed", "auc": "test AUC-ROC, %", "auc_lo": "DeLong 95 % CI, lower, %",
    "auc_hi": "DeLong 95 % CI, upper, %", "n_test": "test images", "ece": "expected calibration error, %",
    "brier": "Brier score", "energy": "Grad-CAM energy in mask, mean over images, %",
    "pointing": "pointing game, %", "iou": "IoU of the top CAM region with the mask, %",
    "params": "parameters", "gmacs": "multiply-accumulates at the run's image size, G",
    "train_img_s": "training throughput, images/s (the variant's cost row on the board)",
    "infer_img_s": "inference throughput, images/s (the variant's cost row)",
    "train_ratio": "training speed relative to the baseline, timed beside it (the board's cost ratio)",
    "machine": "device, instruction sets and precision of the run", "isa": "ATen / oneDNN instruction sets",
    "precision": "fp32 or bf16", "commit": "code commit", "content_hash": "data content hash",
    "failure": "why a failed run failed", "record": "record file",
}
COMPARISON_COLUMNS = {
    "suite": "suite name", "dataset": "data set", "variant": "leaderboard row", "baseline": "baseline row",
    "n_splits": "paired splits", "test": "decisive test", "delta": "ΔAUC variant − baseline, AUC points",
    "delta_lo": "CI lower, AUC points (unadjusted)", "delta_hi": "CI upper, AUC points (unadjusted)",
    "ci_level": "CI level", "p": "two-sided p, unadjusted", "p_adj": "two-sided p, adjusted across the suite",
    "p_equiv_adj": "equivalence (TOST) p, adjusted", "margin": "equivalence margin, AUC points",
    "verdict": "better / worse / equivalent / inconclusive", "tau": "between-split sd of the true ΔAUC, points",
    "mde": "ΔAUC detected with the suite's power at its corrected α, points",
    "paper_delta": "the paper's reported ΔAUC, points", "paper_claim": "how the paper's claim fares",
    "submission": "a row added later: its submission and the maintainer's re-training, or unverified",
}


def _pct(x: Any) -> float:
    return 100 * float(x) if x is not None and math.isfinite(float(x)) else math.nan


def _mean(values: Any) -> float:
    vals = [v for v in (values or []) if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def _stable(row: dict[str, Any]) -> dict[str, Any]:
    """Floats as every CPU computes them alike (the points scaling included; see stable.py)."""
    return {k: stable_float(v) if isinstance(v, float) else v for k, v in row.items()}


def run_rows(analyses: list[SuiteAnalysis]) -> list[dict[str, Any]]:
    rows = []
    for a in analyses:
        for ds, d in sorted(a.datasets.items()):
            for v in a.order + sorted(d.aa_copies):
                s = d.variants.get(v) or d.aa_copies.get(v)
                if s is None:
                    continue
                role = "A/A copy" if v in d.aa_copies else "baseline" if v == a.baseline else "variant"
                row_cost = a.costs.get(v) or {}
                tp = row_cost.get("throughput") or {}
                for (seed, init), r in s.runs.items():
                    m, ex = r.metrics, r.explain or {}
                    static = (r.cost or {}).get("static") or {}
                    ci = (m.auc_ci_delong if m else {}) or {}
                    mach = r.env.get("machine", {}) if isinstance(r.env.get("machine"), dict) else {}
                    rows.append(_stable({
                        "suite": a.name, "dataset": ds, "variant": v, "role": role, "attention": r.run.attention,
                        "split_seed": seed, "init_seed": init, "status": r.status,
                        "auc": _pct(m.auc) if m else math.nan, "auc_lo": _pct(ci.get("lo")), "auc_hi": _pct(ci.get("hi")),
                        "n_test": m.n_test if m else None, "ece": _pct(m.ece) if m else math.nan,
                        "brier": m.brier if m and m.brier is not None else math.nan,
                        "energy": _pct(_mean(ex.get("energy"))), "pointing": _pct(_mean(ex.get("pointing"))),
                        "iou": _pct(_mean(ex.get("iou"))),
                        "params": static.get("params"), "gmacs": static["macs"] / 1e9 if "macs" in static else math.nan,
                        "train_img_s": tp.get("train_img_s", math.nan), "infer_img_s": tp.get("infer_img_s", math.nan),
                        "train_ratio": tp.get("train_ratio") if tp.get("train_ratio") is not None else math.nan,
                        "machine": machine_label(r), "isa": isa_label(mach.get("isa")),
                        "precision": (r.env.get("device") or {}).get("dtype"),
                        "commit": ((r.env.get("git") or {}).get("commit") or "")[:10],
                        "content_hash": r.data.get("content_hash"), "failure": r.failure or "",
                        "record": r.path or "",
                    }))
    return rows


def comparison_rows(analyses: list[SuiteAnalysis]) -> list[dict[str, Any]]:
    rows = []
    for a in analyses:
        claims = {(c.dataset, c.variant): c for c in a.claims}
        for ds, d in sorted(a.datasets.items()):
            for v in a.order:
                row = d.comparisons.get(v)
                if row is None or row.decisive is None:
                    continue
                c = row.decisive
                claim = claims.get((ds, v))
                rows.append(_stable({
                    "suite": a.name, "dataset": ds, "variant": v, "baseline": a.baseline, "n_splits": c.n_splits,
                    "test": TESTS[a.settings.test], "delta": 100 * c.delta, "delta_lo": 100 * c.ci_lo,
                    "delta_hi": 100 * c.ci_hi, "ci_level": c.level, "p": c.p, "p_adj": row.p_adj,
                    "p_equiv_adj": row.p_equiv_adj, "margin": a.settings.margin, "verdict": row.outcome,
                    "tau": 100 * c.tau if math.isfinite(c.tau) else math.nan,
                    "mde": 100 * d.power.mde if d.power is not None and math.isfinite(d.power.mde) else math.nan,
                    "paper_delta": claim.reported_delta if claim else math.nan,
                    "paper_claim": claim.status if claim else "",
                    "submission": row.submission,
                }))
    return rows


def frames(analyses: list[SuiteAnalysis]):
    """(runs, comparisons) as pandas DataFrames with the documented columns, in order."""
    import pandas as pd

    runs = pd.DataFrame(run_rows(analyses), columns=list(RUN_COLUMNS))
    comps = pd.DataFrame(comparison_rows(analyses), columns=list(COMPARISON_COLUMNS))
    for df, ints in ((runs, ("split_seed", "init_seed", "n_test", "params")), (comps, ("n_splits",))):
        for col in ints:
            df[col] = df[col].astype("Int64")
    return runs, comps


def latex_tables(analyses: list[SuiteAnalysis]) -> str:
    """One booktabs table per suite: variants by data set, mean AUC ± sd over splits and the
    decisive ΔAUC with its CI and verdict (needs \\usepackage{booktabs})."""
    import pandas as pd

    out = ["% medattn-bench export: AUC in %, ΔAUC in AUC points; \\usepackage{booktabs}"]
    for a in analyses:
        rows = []
        for ds, d in sorted(a.datasets.items()):
            for v in a.order:
                s = d.variants.get(v)
                if s is None:
                    continue
                row = d.comparisons.get(v)
                delta = verdict = "--"
                if row is not None and row.decisive is not None:
                    c = row.decisive
                    delta = f"${100 * c.delta:+.1f}$ [${100 * c.ci_lo:+.1f}$, ${100 * c.ci_hi:+.1f}$]"
                    verdict = row.outcome
                auc = (f"${100 * s.mean:.1f} \\pm {100 * s.sd:.1f}$" if math.isfinite(s.sd)
                       else f"${100 * s.mean:.1f}$" if math.isfinite(s.mean) else "--")
                rows.append({"Data set": _tex(ds), "Variant": _tex(v), "AUC (\\%)": auc,
                             f"$\\Delta$AUC vs {_tex(a.baseline)}": delta, "Verdict": verdict})
        if not rows:
            continue
        level = int(round(100 * a.settings.ci_level))
        caption = (f"Suite {_tex(a.name)}: mean AUC $\\pm$ sd over splits; $\\Delta$AUC in AUC points with its "
                   f"{level}\\,\\% CI ({_tex(TESTS[a.settings.test])}); verdict at $\\alpha = {a.settings.alpha}$, "
                   f"{a.settings.correction}-adjusted, equivalence margin $\\pm{a.settings.margin:g}$.")
        df = pd.DataFrame(rows)
        out.append(df.style.hide(axis="index").to_latex(hrules=True, caption=caption, label=f"tab:{a.name}",
                                                         position="t", column_format="llrll"))
    return "\n".join(out)


def _tex(text: str) -> str:
    """Escape the characters that names and test descriptions can hold (suite, data set and
    variant names are limited to letters, digits and _ . + -)."""
    for a, b in (("_", "\\_"), ("%", "\\%"), ("&", "\\&"), ("#", "\\#"), ("τ²", "$\\tau^2$"), ("Δ", "$\\Delta$"),
                 ("τ", "$\\tau$"), ("−", "--")):
        text = text.replace(a, b)
    return text


def write_exports(analyses: list[SuiteAnalysis], fmt: str, out: Path) -> list[Path]:
    """``runs.<ext>`` and ``comparisons.<ext>`` (csv, jsonl) or ``tables.tex`` (latex) under ``out``."""
    from .jsonio import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    if fmt == "latex":
        path = out / "tables.tex"
        write_text_atomic(path, latex_tables(analyses) + "\n")
        return [path]
    runs, comps = frames(analyses)
    paths = []
    for name, df in (("runs", runs), ("comparisons", comps)):
        path = out / f"{name}.{fmt}"
        text = df.to_csv(index=False) if fmt == "csv" else df.to_json(orient="records", lines=True, force_ascii=False)
        write_text_atomic(path, text)
        paths.append(path)
    return paths
