"""The board's first screen: what the study claimed beside what this benchmark finds. The rows are
built once (:func:`findings_rows`) and formatted here and by the page."""

from __future__ import annotations

from dataclasses import dataclass

from tabulate import tabulate

from ..analysis import SuiteAnalysis
from ..stats import Verdict
from .format import _pts
from .tables import _margin


@dataclass(frozen=True)
class FindingRow:
    """One row of the findings table, as data: each renderer formats it (markdown here, the page's
    cells with sort keys in :mod:`medattn_bench.page`)."""

    dataset: str
    variant: str
    paper_delta: float  # AUC points, as the paper reported it
    verdict: Verdict | None  # ours (AUC fractions), None when not tested
    outcome: str  # better / worse / equivalent / inconclusive / not tested
    status: str  # the claim's label, with its interval


def leads(a: SuiteAnalysis) -> bool:
    """Whether the suite's claims open the board: a suite with published claims that is not itself a
    check of another suite (a check's claims stay in its own section; its effect on the findings is
    the protocol line beside them)."""
    return bool(a.claims) and not a.info.check_against


def findings_rows(a: SuiteAnalysis) -> list[FindingRow]:
    """The findings table of a suite with published claims, built once for every renderer."""
    return [FindingRow(c.dataset, c.variant, c.reported_delta, c.verdict, c.outcome, c.status) for c in a.claims]


def findings_headers(a: SuiteAnalysis) -> list[str]:
    level = int(round(100 * a.settings.ci_level))
    return ["Data set", "Variant", "Paper ΔAUC (points)", f"Ours ΔAUC (points) [{level}% CI]", "Our verdict",
            "The paper's claim"]


def _claim_counts(claims: list) -> str:
    from ..claims import counts_line

    return counts_line([c.label.label if c.label else "in progress" if c.outcome == "in progress" else "not tested"
                        for c in claims])


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


def protocol_line(a: SuiteAnalysis, analyses: list[SuiteAnalysis]) -> str:
    """The protocol the findings speak of (the suite's own line), and what the suites that check
    this one against another protocol found (``check_against``), beside the findings, each linked
    to its section: the rows moved between the protocols, and where a check holds variants, the
    attention effect under its protocol minus under this one (analysis/protocol_check.py)."""
    parts = [f"**Protocol:** {a.info.protocol}"] if a.info.protocol else []
    for other in analyses:
        if other.info.check_against != a.name:
            continue
        tested = [c for c in other.checks if c.verdict is not None]
        splits = {c.verdict.n_splits for c in tested}
        moved = [f"{c.variant} on {c.dataset} {_pts(c.verdict.delta)} [{_pts(c.verdict.ci_lo)}, {_pts(c.verdict.ci_hi)}] "
                 f"AUC points" + ("" if len(splits) == 1 else f" ({c.verdict.n_splits} splits)")
                 + (f" ({_elsewhere(c.other_machine)})" if c.other_machine else "")
                 for c in tested]
        if moved:
            over = f" over {splits.pop()} splits" if len(splits) == 1 else ""
            parts.append(f"**Check** ([suite `{other.name}`](#suite-{other.name}), same splits, against this "
                         f"suite's{over}): {'; '.join(moved)}.")
        if other.effects:
            parts.append(f"Attention effect (ΔAUC over {a.baseline}) in `{other.name}` minus here: " + "; ".join(
                f"{e.variant} on {e.dataset} {_pts(e.diff.delta)} [{_pts(e.diff.ci_lo)}, {_pts(e.diff.ci_hi)}] "
                f"({', '.join(filter(None, [_said(e), _elsewhere(e.other_machine)]))})" for e in other.effects) + ".")
    return " ".join(parts)


def _said(e) -> str:
    """An effect check's verdict, or how far its suite got while it is in progress."""
    return f"in progress: {e.waiting}" if e.waiting else e.outcome


def _elsewhere(other_machine: dict) -> str:
    """Where a check's split seeds were trained on other machines than this suite's, say which."""
    seeds = sorted(other_machine)
    return f"split seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} on other machines" if seeds else ""


def _findings(analyses: list[SuiteAnalysis], figures: dict[str, str] | None) -> list[str]:
    """The first screen: per suite with published claims, the paper's Δ beside ours and the verdict."""
    out = []
    for a in filter(leads, analyses):
        rows = [[r.dataset, r.variant, f"{r.paper_delta:+.2f}",
                 f"{_pts(r.verdict.delta)} [{_pts(r.verdict.ci_lo)}, {_pts(r.verdict.ci_hi)}]" if r.verdict else "–",
                 {"equivalent": f"equivalent (±{a.settings.margin:g})"}.get(r.outcome, r.outcome), r.status]
                for r in findings_rows(a)]
        datasets = sorted({c.dataset for c in a.claims})
        out += [f"## What the study claimed, what this benchmark finds (suite `{a.name}`)", "",
                " ".join(findings_sentences(a)), ""]
        out += [f"{line}", ""] if (line := protocol_line(a, analyses)) else []
        out += [
                tabulate(rows, findings_headers(a), tablefmt="github", disable_numparse=True), ""]
        missing = sorted(set(a.info.paper_reference) - set(datasets))
        if missing:
            out += [f"Not yet run: {', '.join(missing)}.", ""]
        fig = (figures or {}).get(f"{a.name}/findings")
        if fig:
            out += [f"![The paper's ΔAUC beside ours]({fig})", ""]
    return out
