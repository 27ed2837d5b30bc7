"""One-line notes under a data set's tables: power, submissions, sequential looks, the data's story,
the machines its runs came from."""

from __future__ import annotations

import numpy as np

from ..analysis import DatasetAnalysis, SuiteAnalysis


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
    from ..settings import SplitsSpec

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
