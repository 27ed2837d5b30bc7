"""Analysis -> markdown. ``render`` is a pure function of the records and the suites' settings (the
bootstrap seed is a stored setting), so CI can check the committed board. Nothing here computes
a statistic: :mod:`medattn_bench.analysis` does."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from tabulate import tabulate

from .analysis import SECOND, TESTS, DatasetAnalysis, SuiteAnalysis, analyse
from .records import RunRecord, SuiteInfo


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"


def _pts(x: float, digits: int = 1) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:+.{digits}f}"


def _fmt_p(p: float, digits: int = 3) -> str:
    if not np.isfinite(p):
        return "–"
    floor = 10.0**-digits
    return f"<{floor:.{digits}f}" if p < floor else f"{p:.{digits}f}"


def _seed_label(key: tuple[int, int], inits: bool) -> str:
    return f"Seed {key[0]}" + (f"/{key[1]}" if inits else "")


MAX_SEED_COLUMNS = 6


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
    return {"equivalent": f"equivalent (within ±{margin:g})", "not tested": "–"}.get(o, o)


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
            why = ("not ranked: protocol differs (use --allow-mixed)" if row.mixed else
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


def _power_line(d: DatasetAnalysis, a: SuiteAnalysis) -> str:
    p = d.power
    if p is None or p.n_splits < 2:
        return "Power: needs at least 2 paired splits."
    if not np.isfinite(p.mde):
        return (f"Power: cannot be estimated: the per-split ΔAUC did not vary over {p.n_splits} splits (sd "
                f"{100 * p.split_sd:.1f} points).")
    base = d.variants.get(a.baseline)
    room = 1 - base.mean if base is not None and np.isfinite(base.mean) else float("nan")
    need = f"about {p.seeds_for_one_point}" if p.seeds_for_one_point else "more than 500"
    if np.isfinite(room) and p.mde > room:
        size = "more than the whole AUC scale" if p.mde >= 1 else f"{100 * p.mde:.1f} points"
        mde = (f"**{size}, more than the baseline's {100 * room:.1f} points of headroom**: no better variant is "
               "detectable with this suite")
    else:
        mde = f"**{100 * p.mde:.1f} points**"
    return (f"Power: with {p.n_splits} splits and a between-split sd of ΔAUC of {100 * p.split_sd:.1f} points (pooled "
            f"over the variants), the decisive test detects a ΔAUC of {mde} with {100 * p.power:.0f} % power at "
            f"α = {a.settings.alpha}/{a.n_comparisons} (two-sided; exact noncentral t, the sd grown to what these splits "
            f"show when a variant is that much better); detecting 1 point would take "
            f"{need} splits.")


def submission_line(d: DatasetAnalysis, a: SuiteAnalysis) -> str:
    """Rows added after the suite first ran: who sent them and what the maintainer's re-training found."""
    marks = [d.comparisons[v].submission for v in a.order if v in d.comparisons and d.comparisons[v].submission]
    if not marks:
        return ""
    return ("Submitted rows (a maintainer re-trains a sample of a submission's records with `verify`): "
            + "; ".join(marks) + ".")


def sequential_line(d: DatasetAnalysis, a: SuiteAnalysis) -> str:
    q = d.sequential
    if not q["look"]:
        return (f"Sequential: {q['status']} (looks at {', '.join(map(str, _looks(a)))} splits; verdicts wait for "
                "the first).")
    spend = {"obf": "O'Brien-Fleming", "linear": "linear spending (α·t)"}[q.get("spending", "obf")]
    if q.get("correction", "bonferroni") == "holm":
        share = (f"α shared by Holm over the suite's {q['m']} comparisons, a concluded one passing its share on, "
                 f"each share spent over the looks by {spend}")
    else:
        share = f"α/{q['m']} (Bonferroni) spent over the looks by {spend}"
    return (f"Sequential: look {q['look']} of {q['looks']}, on {q['splits']} splits (at most {q['max']}); "
            f"{q['concluded']} of {q['comparisons']} comparisons concluded; the two-sided level for an open "
            f"comparison at this look is {q['level']:.2g} ({share}; the adjusted p shown is p × α / level); "
            f"{q['status']}." + _needs(q))


def _needs(q: dict) -> str:
    if not q.get("needs"):
        return ""
    cells = [f"{v} {n}" if n is not None else f"{v} > 500" for v, n in sorted(q["needs"].items())]
    return (" Splits each open comparison would need for 80 % power to detect its observed ΔAUC at the last "
            "look's level: " + ", ".join(cells) + ".")


def _looks(a: SuiteAnalysis) -> tuple[int, ...]:
    from .settings import SplitsSpec

    return SplitsSpec.model_validate(a.info.splits).looks()


def _story_line(d: DatasetAnalysis) -> str:
    s = d.story
    if not s:
        return ""
    parts = [f"{s.get('images')} images ({' / '.join(s.get('classes') or [])}), {s.get('test')} test images per split"]
    if s.get("patients"):
        parts.append(f"{s['patients']} patient/source groups named by the files")
    if s.get("duplicate_groups") is not None:
        parts.append(f"{s['duplicate_groups']} duplicate groups")
    for what, label in (("patients", "patient"), ("duplicates", "duplicate")):
        if f"{what}_would_leak" in s:
            moved = (f" ({100 * s[f'{what}_moved_share']:.0f} % of test images belong to such groups)"
                     if f"{what}_moved_share" in s else "")
            parts.append(f"a group-blind split would put {s[f'{what}_would_leak']:.0f} {label} groups on both sides{moved}")
    parts.append(f"content hash {', '.join(s.get('content_hash', []))}")
    return "Data: " + "; ".join(parts) + "."


def _machines_line(d: DatasetAnalysis) -> str:
    runs = "; ".join(f"{m} [{n} runs]" for m, n in d.machines)
    if not d.mixed_machines:
        return f"Computed on: {runs}."
    return (f"Computed on: {runs}. **Mixed machines:** fp32 on different instruction sets trains different models "
            "(the same config re-trained with AVX2 instead of AVX-512 kernels moved a full-MRI AUC by 1.3 points), so "
            "these runs are not one arithmetic; the tests treat the difference as more training noise.")


def _claim_counts(claims: list) -> str:
    from .claims import counts_line

    return counts_line([c.label.label if c.label else "not tested" for c in claims])


def findings_sentences(a: SuiteAnalysis) -> list[str]:
    """One or two plain sentences generated from the suite's verdicts and claims."""
    out = [f"Of the study's {len(a.claims)} claims tested here, {_claim_counts(a.claims)}."]
    by: dict[str, list[str]] = {}
    for d in sorted(a.datasets):
        for v in a.order:
            row = a.datasets[d].comparisons.get(v)
            if row is not None and row.decisive is not None:
                by.setdefault(row.outcome, []).append(f"{v} on {d}")
    parts = [f"{o}: {', '.join(by[o])}" for o in ("better", "worse", "equivalent") if by.get(o)]
    n_inc = len(by.get("inconclusive", []))
    if parts:
        out.append("Against the baseline, " + "; ".join(parts) + (f"; the other {n_inc} comparisons are inconclusive."
                                                                     if n_inc else "."))
    elif n_inc:
        out.append(f"No variant is better, worse or equivalent (within {_margin(a)}) to the baseline in "
                   f"any of the {n_inc} comparisons: each is inconclusive with this suite's splits.")
    seq = {ds: d.sequential for ds, d in sorted(a.datasets.items()) if d.sequential}
    if seq:
        by_state: dict[str, list[str]] = {}
        for ds, q in seq.items():
            by_state.setdefault(f"{q['status']} (look {q['look']}, {q['splits']} splits)"
                                if q["look"] else q["status"], []).append(ds)
        out.append("Sequential looks: " + "; ".join(f"{', '.join(v)}: {k}" for k, v in by_state.items()) + ".")
    return out


def protocol_line(a: SuiteAnalysis, analyses: list[SuiteAnalysis], plain: bool = False) -> str:
    """The protocol the findings speak of (the suite's own line), and what the suites that check
    this one against another protocol found (``check_against``), beside the findings; markdown, or
    ``plain`` text for the page."""
    b, q = ("", "") if plain else ("**", "`")
    parts = [f"{b}Protocol:{b} {a.info.protocol}"] if a.info.protocol else []
    for other in analyses:
        if other.info.check_against != a.name:
            continue
        for c in other.checks:
            if c.verdict is not None:
                v = c.verdict
                parts.append(f"{b}Check{b} (suite {q}{other.name}{q}, same splits): {c.variant} on {c.dataset} "
                             f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}] AUC points against this suite's "
                             f"over {v.n_splits} splits.")
    return " ".join(parts)


def _findings(analyses: list[SuiteAnalysis], figures: dict[str, str] | None) -> list[str]:
    """The first screen: per suite with published claims, the paper's Δ beside ours and the verdict."""
    out = []
    for a in analyses:
        if not a.claims:
            continue
        level = int(round(100 * a.settings.ci_level))
        rows = []
        for c in a.claims:
            v = c.verdict
            rows.append([c.dataset, c.variant, f"{c.reported_delta:+.2f}",
                         f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}]" if v else "–",
                         {"equivalent": f"equivalent (±{a.settings.margin:g})"}.get(c.outcome, c.outcome), c.status])
        datasets = sorted({c.dataset for c in a.claims})
        out += [f"## What the study claimed, what this benchmark finds (suite `{a.name}`)", "",
                " ".join(findings_sentences(a)), ""]
        out += [f"{line}", ""] if (line := protocol_line(a, analyses)) else []
        out += [
                tabulate(rows, ["Data set", "Variant", "Paper ΔAUC (points)", f"Ours ΔAUC (points) [{level}% CI]",
                                "Our verdict", "The paper's claim"], tablefmt="github", disable_numparse=True), ""]
        missing = sorted(set(a.info.paper_reference) - set(datasets))
        if missing:
            out += [f"Not yet run: {', '.join(missing)}.", ""]
        fig = (figures or {}).get(f"{a.name}/findings")
        if fig:
            out += [f"![The paper's ΔAUC beside ours]({fig})", ""]
    return out


def _ratio(tp: dict, key: str) -> str:
    r = tp.get(f"{key}_ratio")
    if r is None:
        return "–"
    lo, hi = tp.get(f"{key}_ratio_min"), tp.get(f"{key}_ratio_max")
    return f"{r:.2f}×" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None and lo != hi else "")


def _cost_table(a: SuiteAnalysis) -> list[str]:
    costs, base = a.costs, a.costs.get(a.baseline)
    size = next((c["static"]["image_size"] for c in costs.values() if c), "?")
    tps = [c["throughput"] for c in costs.values() if c and "throughput" in c]
    where = {(t.get("device_name"), t.get("isa"), t.get("dtype"), t.get("batch_size"), t.get("image_size")) for t in tps}
    one_machine = len(where) == 1
    headers = ["Variant", "Params (M)", "ΔParams", f"GMACs @{size}px", "ΔGMACs %", "Attention share of MACs %",
               "GMACs @224px", f"Train speed vs {a.baseline} (median × [range over rounds])", "Infer speed",
               "Train img/s", "Infer img/s"] + ([] if one_machine else ["Measured on"])
    rows, marked, unpaired = [], False, False
    for v in a.order:
        c = costs.get(v)
        if not c:
            rows.append([v] + ["–"] * (len(headers) - 1))
            continue
        s, s224, tp = c["static"], c.get("static_224") or {}, c.get("throughput")
        dparams = s["params"] - base["static"]["params"] if base else float("nan")
        dmacs = 100 * (s["macs"] / base["static"]["macs"] - 1) if base else float("nan")
        mark = ""
        if tp and tp.get("contended"):
            mark, marked = " †", True
        if tp and tp.get("train_ratio") is None:
            unpaired = True
        row = [v + mark, f"{s['params'] / 1e6:.3f}", f"{dparams:+,}", f"{s['macs'] / 1e9:.4f}", f"{dmacs:+.2f}",
               f"{100 * s['macs_attention'] / s['macs']:.2f}", f"{s224['macs'] / 1e9:.3f}" if s224 else "–",
               _ratio(tp, "train") if tp else "–", _ratio(tp, "infer") if tp else "–",
               f"{tp['train_img_s']:.0f}" if tp else "–", f"{tp['infer_img_s']:.0f}" if tp else "–"]
        if not one_machine:
            row.append(f"{tp.get('device_name')} ({tp.get('isa') or 'instruction set not recorded'}, {tp.get('dtype')}, "
                       f"batch {tp.get('batch_size')}, {tp.get('image_size')} px)" if tp else "–")
        rows.append(row)
    out = []
    if tps and one_machine:
        t = tps[0]
        how = (f"each variant interleaved with `{a.baseline}` in one process; the ratio is the comparable figure, "
               "img/s depends on the machine and its load" if not unpaired else
               "each variant timed on its own, when its runs were trained")
        out += [f"Throughput measured on {t.get('device_name')} ({t.get('isa') or 'instruction set not recorded'}, "
                f"{t.get('dtype')}, batch {t.get('batch_size')}, {t.get('image_size')} px), {how}.", ""]
    out += [tabulate(rows, headers, tablefmt="github", disable_numparse=True), ""]
    if marked:
        out += ["† measured on a busy machine (the rounds' ratios spread by more than ±15 %, or the load average "
                "exceeded the measurement's threads): re-measure the suite's cost rows together on an idle machine "
                "with `medattn-bench profile --recost SUITE`.", ""]
    if unpaired:
        out += ["A ratio of – : measured before throughput was taken beside the baseline; `profile --recost` "
                "measures it.", ""]
    return out


def _aa_section(a: SuiteAnalysis) -> list[str]:
    if not a.aa:
        return []
    st = a.settings
    rows = [[r.dataset, r.variant, r.n_splits, f"{r.n_blocks} × {r.block} splits",
             f"{r.decisive_hits}/{r.n_blocks} = {r.decisive_hits / r.n_blocks:.2f} [{r.decisive_ci[0]:.2f}, "
             f"{r.decisive_ci[1]:.2f}]",
             f"{r.case_hits}/{r.n_blocks} = {r.case_hits / r.n_blocks:.2f} [{r.case_ci[0]:.2f}, {r.case_ci[1]:.2f}]",
             f"{r.decisive_all:.3f} / {r.case_delong_all:.3f} over "
             + (f"{r.n_subsets:,}" if r.n_subsets == r.n_subsets_all else f"{r.n_subsets:,} of {r.n_subsets_all:,} (seeded sample)"),
             f"{100 * r.tau_init:.1f}"] for r in a.aa if r.n_blocks]
    return ["### A/A check: the baseline against itself", "",
            f"Rows that train exactly the baseline's recipe with other initialisations. The splits are cut into "
            f"disjoint blocks of {st.aa_block}, each block one simulated suite; every rejection at α = {st.alpha} is a "
            "false positive. Binomial 95 % CIs (Clopper-Pearson). The case-only bootstrap's p takes its replicates' "
            "variance in closed form (the limit of infinitely many resamples).", "",
            tabulate(rows, ["Data set", "Copy", "Splits", "Tests", f"False-positive rate, decisive ({TESTS[st.test]})",
                            "False-positive rate, case-only bootstrap",
                            f"Rate over every {st.aa_block} of the splits (overlapping, descriptive): decisive / case-only DeLong",
                            "sd of per-split ΔAUC (points)"],
                     tablefmt="github", disable_numparse=True), ""] + _aa_sequential_lines(a)


def _aa_sequential_lines(a: SuiteAnalysis) -> list[str]:
    seq = [r for r in a.aa if r.looks and r.seq_blocks]
    if not seq:
        return []
    st = a.settings
    looks = ", ".join(map(str, seq[0].looks))
    rows = [[r.dataset, r.variant, f"{r.seq_blocks} × {r.looks[-1]} splits",
             f"{r.seq_hits}/{r.seq_blocks} = {r.seq_hits / r.seq_blocks:.2f} [{r.seq_ci[0]:.2f}, {r.seq_ci[1]:.2f}]",
             f"{r.seq_equivalent}/{r.seq_blocks}", f"{r.seq_mean_splits:.1f}"] for r in seq]
    return [f"**Over all looks of a sequential suite** (looks at {looks} splits): the splits cut into disjoint "
            f"blocks of {seq[0].looks[-1]}, each judged as a sequential suite judges a data set with one comparison: "
            f"at each look the decisive test against the look's level (α = {st.alpha} spent by O'Brien-Fleming), "
            f"a stop when equivalence within ±{st.margin:g} points is shown, else the next look. A rejection at any "
            "look is a false positive.", "",
            tabulate(rows, ["Data set", "Copy", "Blocks", "False-positive rate over all looks (95 % CI)",
                            f"Stopped as equivalent (±{st.margin:g})", "Mean splits used"],
                     tablefmt="github", disable_numparse=True), ""]


CLAIMS_RULE = ("The claims are a family of their own: each label compares the paper's Δ with our interval at "
               "1 − α/m for the m claims tested (in a sequential suite the repeated interval of the comparison's "
               "look), printed in the label, so that with every published value true the chance that any claim "
               "reads *not reproduced* or *contradicted* is at most α; the label table is in docs/statistics.md.")
CORRECTIONS = {"holm": "Holm", "bonferroni": "Bonferroni", "bh": "Benjamini-Hochberg", "none": "no"}


def _claims_section(a: SuiteAnalysis) -> list[str]:
    if not a.claims:
        return []
    level = int(round(100 * a.settings.ci_level))
    rows = []
    for c in a.claims:
        v = c.verdict
        ours = (f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}], p {_fmt_p(c.p_adj)}" + (" *" if c.significant else "")
                if v else "–")
        rows.append([c.dataset, c.variant, f"{c.reported:.2f} vs {c.reported_base:.2f} ({c.reported_delta:+.2f})",
                     f"{_pct(c.ours, 2)} vs {_pct(c.ours_base, 2)}", ours, c.status])
    summary = _claim_counts(a.claims)
    return ["### The paper's claims: reported beside reproduced", "",
            f"Each published result is a variant's mean AUC against the baseline's (3 runs, no interval). Here it "
            f"meets this suite's decisive test: ΔAUC over splits with its {level} % CI (unadjusted) and "
            f"p with {CORRECTIONS[a.settings.correction]} correction. {CLAIMS_RULE} The protocols differ where the "
            "suite's description says so, so a label is a statement about this protocol, not proof of an error.", "",
            tabulate(rows, ["Data set", "Variant", f"Paper: AUC % vs {a.baseline} (Δ points)",
                            f"Ours: mean AUC % vs {a.baseline}", f"Ours: ΔAUC points [{level}% CI], p", "Paper's claim"],
                     tablefmt="github", disable_numparse=True), "",
            f"Of {len(a.claims)} claims: {summary}.", ""]


def _checks_section(a: SuiteAnalysis) -> list[str]:
    if not a.checks:
        return []
    level = int(round(100 * a.settings.ci_level))
    other = a.checks[0].other
    def per_seed(aucs: dict[int, float]) -> str:
        return ", ".join(f"{s}: {_pct(x)}" for s, x in sorted(aucs.items()))

    def mean_sd(aucs: dict[int, float]) -> str:
        x = list(aucs.values())
        return f"{_pct(float(np.mean(x)))} ± {_pct(float(np.std(x, ddof=1)) if len(x) > 1 else float('nan'))}"

    rows = []
    for c in a.checks:
        v = c.verdict
        rows.append([c.dataset, c.variant, per_seed(c.here), mean_sd(c.here), per_seed(c.there), mean_sd(c.there),
                     "yes" if c.there_mean_in_range else "no", "yes" if c.here_mean_in_range else "no",
                     f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}], p {_fmt_p(v.p)}" if v else "–"])
    return [f"### Against suite `{other}` on the same splits", "",
            f"This suite's rows beside `{other}`'s same rows; split seeds give identical test sets (checked case by "
            f"case). ΔAUC is this suite minus `{other}`, by the decisive test over the shared splits ({level} % CI).", "",
            tabulate(rows, ["Data set", "Variant", "AUC % here, per split seed", "Here mean ± sd",
                            f"AUC % in {other}, per split seed", f"{other} mean ± sd",
                            f"{other}'s mean within the range here", f"Mean here within {other}'s range",
                            f"ΔAUC points [{level}% CI], p"], tablefmt="github", disable_numparse=True), ""]


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


def provenance_lines(a: SuiteAnalysis) -> list[str]:
    """The suite's file, runs, machines, dates and code, and its statistics in words (a list)."""
    p = a.provenance
    return [f"- Suite file: `{a.info.file}`" + (f" with `--set {' '.join(a.info.overrides)}`" if a.info.overrides else "")
            + f"; {p['n_runs']} runs ({p['n_failed']} failed), {p['cpu_hours']:.2f} h of run wall time",
            f"- Machine: {'; '.join(f'{m} [{n} runs]' for m, n in p['machines'])}",
            f"- Records dated {p['dates'][0]}" + (f" to {p['dates'][1]}" if p['dates'][1] != p['dates'][0] else "")
            + f"; code {', '.join(p['commits'])}",
            _statistics_prose(a)]


def render_suite(a: SuiteAnalysis, figures: dict[str, str] | None = None) -> list[str]:
    lines = [f"## Suite `{a.name}`", ""]
    if a.info.description:
        lines += [a.info.description.strip(), ""]
    lines += provenance_lines(a)
    if figures and figures.get(a.name):
        lines.append(f"- Forest plot: [{figures[a.name]}]({figures[a.name]})")
    lines.append("")
    lines += _claims_section(a)
    lines += _checks_section(a)
    lines += ["### Cost", ""] + _cost_table(a)
    for name, d in sorted(a.datasets.items()):
        lines += [f"### {name}", ""]
        story = _story_line(d)
        if story:
            lines += [story, ""]
        lines += [_machines_line(d), ""]
        lines += [_auc_table(d, a), ""]
        if d.comparisons:
            lines += [_verdict_table(d, a), "", _power_line(d, a), ""]
            sub = submission_line(d, a)
            if sub:
                lines += [sub, ""]
        if d.sequential:
            lines += [sequential_line(d, a), ""]
        cam = (figures or {}).get(f"{a.name}/{name}")
        lines += _localisation_table(d, a, cam)
        if cam and not d.localisation:  # real data: no masks to score, the heat maps still shown
            lines += [f"Grad-CAM figure of split seed 0 (its title says where the weights came from): [{cam}]({cam})", ""]
    lines += _aa_section(a)
    if len(a.order) >= 2:  # an A/A suite has only its baseline left to rank
        lines += ["### Across data sets", "", _summary(a), ""]
    return lines


CHECKS_INTRO = ("Suites that test the tests rather than the blocks: an A/A suite trains the baseline against itself "
                "with other initialisations, so every rejection is a false positive and its rate is measured; a "
                "sequential demo shows the looks at work on phantoms. docs/statistics.md says what each found.")


def is_check(a: SuiteAnalysis) -> bool:
    """A suite that checks the statistics: only A/A rows, or a sequential suite without the study's claims."""
    aa_only = bool(a.aa) and not any(d.comparisons for d in a.datasets.values())
    return aa_only or (bool(a.info.splits) and not a.info.paper_reference)


def board_order(analyses: list[SuiteAnalysis]) -> tuple[list[SuiteAnalysis], list[SuiteAnalysis]]:
    """A researcher's order, for every renderer: the suites with the study's claims (the reference
    board), then the suites checked against them (``check_against``), then the others by name (the
    demo among them); and apart, the checks of the statistics (:func:`is_check`)."""
    claims = {a.name for a in analyses if a.claims}

    def rank(a: SuiteAnalysis) -> tuple:
        return (0 if a.name in claims else 1 if a.info.check_against in claims else 2, a.name)

    main = sorted((a for a in analyses if not is_check(a)), key=rank)
    return main, sorted((a for a in analyses if is_check(a)), key=lambda a: a.name)


HEADER = ("Rendered by `medattn-bench leaderboard` from the run records under `leaderboard/records/` and each "
          "suite's `suite.json`; do not edit by hand. AUC cells: AUC-ROC in %. ΔAUC in AUC points. GMACs: "
          "multiply-accumulates counted by fvcore with element-wise handlers. `≠` marks a row whose protocol "
          "differs from its baseline's.")


def render_analyses(analyses: list[SuiteAnalysis], problems: list[str] | tuple[str, ...] = (),
                    figures: dict[str, str] | None = None) -> str:
    lines = ["# medattn-bench leaderboard", "", HEADER, ""]
    if not analyses:
        lines.append("No records yet: run `medattn-bench run suites/demo.yaml`.")
    lines += _findings(analyses, figures)
    main, checks = board_order(analyses)
    for a in main:
        lines += render_suite(a, figures)
    if checks:
        lines += ["## Checks of the statistics", "", CHECKS_INTRO, ""]
        for a in checks:
            lines += render_suite(a, figures)
    if problems:
        lines += ["## Records not used", "",
                  "Files under the records folder that no table above uses: unreadable, inconsistent with their own "
                  "labels and scores, misfiled, or claiming a run another file claims too.", ""]
        lines += [f"- {p}" for p in problems] + [""]
    return "\n".join(lines).rstrip() + "\n"


def render(records: list[RunRecord], infos: dict[str, SuiteInfo] | None = None,
           problems: list[str] | tuple[str, ...] = (), allow_mixed: bool = False,
           figures: dict[str, str] | None = None, marks: dict | None = None) -> str:
    """The leaderboard markdown for ``records`` (pure; deterministic)."""
    return render_analyses(analyse(records, infos or {}, allow_mixed, marks), problems, figures)
