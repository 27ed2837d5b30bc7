"""The per-data-set tables: each split's AUC, the verdicts against the baseline, localisation."""

from __future__ import annotations

from typing import Any

import numpy as np
from tabulate import tabulate

from ..analysis import SECOND, TESTS, DatasetAnalysis, SuiteAnalysis
from .format import MAX_SEED_COLUMNS, _fmt_p, _pct, _pts, _seed_label


def _auc_table(d: DatasetAnalysis, a: SuiteAnalysis) -> str:
    inits = any(k[1] for k in d.keys)
    if len(d.keys) > MAX_SEED_COLUMNS:  # many splits (A/A, k-fold): the range instead of a column each
        return _auc_table_compact(d, a)
    ref = a.info.paper_reference.get(d.name, {})
    level = int(round(100 * a.settings.ci_level))
    headers = ["Variant"] + [f"{_seed_label(k, inits)} AUC % [{level}% DeLong CI]" for k in d.keys] + ["Mean ± sd", "ECE % (mean ± sd)",
                                                                                 "Brier (mean)"]
    if ref:
        headers.append("Paper (reported mean AUC %)")
    rows = []
    for v in a.order:
        s = d.variants.get(v)
        if s is None:
            continue
        cells = []
        for k in d.keys:
            if k not in s.cells:
                cells.append("–")
            elif s.cells[k] is None:
                cells.append("failed")
            else:
                ci = s.cells[k].metrics.auc_ci_delong
                cells.append(f"{_pct(ci['auc'])} [{_pct(ci['lo'])}, {_pct(ci['hi'])}]")
        row = d.comparisons.get(v)
        mean = f"{_pct(s.mean)} ± {_pct(s.sd)}"
        if row is not None and row.significant and row.decisive and row.decisive.delta > 0:
            mean = f"**{mean}**"
        name = f"{v} ≠" if row is not None and row.mixed else v
        line = [name] + cells + [mean, f"{_pct(s.ece[0])} ± {_pct(s.ece[1])}",
                                 "–" if not np.isfinite(s.brier[0]) else f"{s.brier[0]:.3f}"]
        if ref:
            line.append(f"{ref[v]:.2f}" if v in ref else "–")
        rows.append(line)
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def _auc_table_compact(d: DatasetAnalysis, a: SuiteAnalysis) -> str:
    rows = []
    for v in a.order:
        s = d.variants.get(v)
        if s is None:
            continue
        aucs = [r.metrics.auc for r in s.cells.values() if r is not None]
        failed = sum(r is None for r in s.cells.values())
        rows.append([v, f"{len(aucs)}" + (f" ({failed} failed)" if failed else ""),
                     f"{_pct(min(aucs))}–{_pct(max(aucs))}" if aucs else "–", f"{_pct(s.mean)} ± {_pct(s.sd)}",
                     f"{_pct(s.ece[0])} ± {_pct(s.ece[1])}", "–" if not np.isfinite(s.brier[0]) else f"{s.brier[0]:.3f}"])
    return tabulate(rows, ["Variant", "Runs", "AUC % range over runs", "Mean ± sd", "ECE % (mean ± sd)", "Brier (mean)"],
                    tablefmt="github", disable_numparse=True)


def _verdict_text(row: Any, margin: float) -> str:
    o = row.outcome
    return {"equivalent": f"equivalent (within ±{margin:g})", "not tested": "–",
            "in progress": f"in progress: {row.waiting}"}.get(o, o)


def _margin(a: SuiteAnalysis) -> str:
    m = a.settings.margin
    return f"±{m:g} AUC point" + ("" if m == 1 else "s")


def _verdict_table(d: DatasetAnalysis, a: SuiteAnalysis) -> str:
    st = a.settings
    level = int(round(100 * st.ci_level))
    other = TESTS[SECOND[st.test]]
    headers = ["Variant", f"ΔAUC vs {a.baseline} (points) [{level}% CI, unadjusted]", f"p ({st.correction})",
               f"p equivalence ±{st.margin:g} ({st.correction})", "τ (points)", "Verdict", f"p, {other} (unadj.)",
               f"Case-only ΔAUC [{level}% CI], p (conditional on these trained models)"]
    rows = []
    for v in a.order:
        row = d.comparisons.get(v)
        if row is None:
            continue
        if row.decisive is None:
            why = (f"in progress: {row.waiting}" if row.waiting else  # a missing run also marks the row mixed
                   "not ranked: protocol differs (use --allow-mixed)" if row.mixed else
                   f"not judged: {row.unjudged}" if row.unjudged else "needs ≥ 2 paired splits")
            rows.append([v, why] + ["–"] * (len(headers) - 2))
            continue
        c, s, co = row.decisive, row.secondary, row.case_only
        star = " *" if row.significant else ""
        rows.append([v, f"{_pts(c.delta)} [{_pts(c.ci_lo)}, {_pts(c.ci_hi)}]", _fmt_p(row.p_adj) + star,
                     _fmt_p(row.p_equiv_adj) + (" *" if row.equivalent else ""),
                     "–" if not np.isfinite(c.tau) else f"{100 * c.tau:.1f}", _verdict_text(row, st.margin),
                     _fmt_p(s.p) if s else "–",
                     f"{_pts(co.delta)} [{_pts(co.ci_lo)}, {_pts(co.ci_hi)}], p {_fmt_p(co.p_bootstrap, 2)}" if co else "–"])
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)


def _localisation_table(d: DatasetAnalysis, a: SuiteAnalysis, figure: str | None) -> list[str]:
    if not d.localisation:
        return []
    st = a.settings
    level = int(round(100 * st.ci_level))
    first = next(d.localisation[v] for v in a.order if v in d.localisation)  # fixed order: a pure render
    rows = []
    for v in a.order:
        loc = d.localisation.get(v)
        if loc is None:
            continue
        if v == a.baseline:
            vs = "(baseline)"
        elif loc.versus is None:
            vs = "needs ≥ 2 paired splits"
        else:
            c = loc.versus
            vs = (f"{_pts(c.delta)} [{_pts(c.ci_lo)}, {_pts(c.ci_hi)}], p ({st.correction}) {_fmt_p(loc.p_adj)}"
                  + (" *" if loc.significant else ""))
        name = f"**{v}**" if loc.significant and loc.versus and loc.versus.delta > 0 else v
        rows.append([name, f"{_pct(loc.energy[0])} ± {_pct(loc.energy[1])}", f"{_pct(loc.pointing[0])} ± {_pct(loc.pointing[1])}",
                     f"{_pct(loc.iou[0])} ± {_pct(loc.iou[1])}", vs])
    headers = ["Variant", "Energy in mask % (mean ± sd over runs)", "Pointing game %", "IoU of top-10 % CAM region %",
               f"ΔEnergy vs {a.baseline} (points) [{level}% CI]"]
    out = [f"Localisation ({first.n_images} positive test images per run, {first.method} of the positive class on "
           f"{first.layer}, {first.seconds:.2f} s per run):", "",
           tabulate(rows, headers, tablefmt="github", disable_numparse=True), ""]
    if figure:
        out += [f"Grad-CAM figure: [{figure}]({figure})", ""]
    return out
