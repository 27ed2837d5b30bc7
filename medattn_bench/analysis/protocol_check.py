"""The attention effect under two protocols: a suite that checks another (``check_against``: the
same split seeds, so the same test images, under another resolution or schedule) compared with it
variant by variant. Per split, the four models (variant and baseline, here and there) are scored on
the same cases, so the difference of the two ΔAUC is one DeLong contrast of the four; across splits
the suite's decisive test (by default a t over splits) carries the variation between training
runs. benchmarks/sim_protocol.py checks the rule's error rates by simulation."""

from __future__ import annotations

import numpy as np

from ..errors import RecordError
from ..records import RunRecord
from ..settings import StatsSpec
from ..stats import Verdict, adjust_pvalues, contrast_delta, tost_p
from .claims_and_checks import other_machines
from .model import EffectCheck, SuiteAnalysis
from .pairing import _decisive_from_parts, paired_runs

Runs = dict[tuple[int, int], RunRecord]


def _four(a: SuiteAnalysis, other: SuiteAnalysis, ds: str, v: str) -> list[Runs] | None:
    """Variant and baseline here, then there (A/A copies are not attention blocks: left out)."""
    here, there = a.datasets[ds].variants, other.datasets.get(ds)
    if there is None or a.baseline != other.baseline:
        return None
    there = there.variants
    if not all(x in here and x in there for x in (v, a.baseline)):
        return None
    return [here[v].runs, here[a.baseline].runs, there[v].runs, there[a.baseline].runs]


def _parts(four: list[Runs], where: str) -> tuple[list[int], np.ndarray]:
    """(seeds, (S, 3, 2) array of (value, DeLong variance) for here, there and here minus there):
    each protocol's variant paired with its baseline (:func:`paired_runs` checks their cases), the
    two protocols' runs checked to hold the same cases too."""
    here, here_seeds = paired_runs(four[0], four[1], where)
    there, there_seeds = paired_runs(four[2], four[3], where)
    seeds, parts = [], []
    for h, seed in zip(here, here_seeds):
        if seed not in there_seeds:
            continue
        t = there[there_seeds.index(seed)]
        first = [next(r for k, r in sorted(runs.items()) if k[0] == seed and r.ok) for runs in (four[0], four[2])]
        if first[0].test.ids != first[1].test.ids:
            raise RecordError(f"{where}, split seed {seed}: {first[0].path} and {first[1].path} were tested on "
                              "different cases; the two protocols' runs cannot be set side by side")
        parts.append([h.delta_and_variance, t.delta_and_variance,
                      contrast_delta(h.labels, [h.scores_a, h.scores_b, t.scores_a, t.scores_b], [1, -1, -1, 1])])
        seeds.append(seed)
    return seeds, np.asarray(parts, dtype=float).reshape(len(seeds), 3, 2)


def effect_checks(a: SuiteAnalysis, other: SuiteAnalysis | None, st: StatsSpec) -> list[EffectCheck]:
    """Per data set and variant both suites hold (with the baseline): ΔAUC here, there, and the
    difference, over the splits where all four have runs (at least 2). Differences are tested
    against 0 and for equivalence within the suite's margin (two one-sided tests), each adjusted
    across this suite's effect checks by the suite's correction; none is judged while this suite's
    planned split seeds are not all recorded."""
    if other is None:
        return []
    out = []
    for ds in sorted(a.datasets):
        for v in a.order:
            four = _four(a, other, ds, v) if v != a.baseline else None
            if four is None:
                continue
            seeds, parts = _parts(four, f"{ds}: {v} and {a.baseline} in {a.name} and {other.name}")
            if len(seeds) < 2:
                continue
            here, there, diff = (_decisive_from_parts(parts[:, i, 0], parts[:, i, 1], st) for i in range(3))
            mixed = other_machines(four[:2], four[2:], seeds)
            row = a.datasets[ds].comparisons.get(v)
            out.append(EffectCheck(other.name, ds, v, seeds, here, there, diff, other_machine=mixed,
                                   waiting=row.waiting if row is not None else "", verdict_here=_verdict(row),
                                   verdict_there=_verdict(other.datasets[ds].comparisons.get(v))))
    if any(c.waiting for c in out):  # judged together (adjusted across the rows): all wait for the last run
        for c in out:
            c.outcome, c.waiting = "in progress", c.waiting or "its split seeds are recorded; judged with the rest"
        return out
    for c, (p_adj, q_adj, outcome) in zip(out, judge([c.diff for c in out], st)):
        c.p_adj, c.p_equiv_adj, c.outcome = p_adj, q_adj, outcome
    return out


def _verdict(row) -> str:
    """A suite's own verdict on a comparison, with the splits it was judged on."""
    if row is None:
        return ""
    n = row.decisive.n_splits if row.decisive is not None else 0
    return row.outcome + (f" ({n} splits)" if n else "")


def judge(diffs: list[Verdict], st: StatsSpec) -> list[tuple[float, float, str]]:
    """Each difference's adjusted p (differs from 0), adjusted TOST p (within ± margin) and verdict:
    differs / same within ±margin / inconclusive (the rule benchmarks/sim_protocol.py simulates)."""
    p = adjust_pvalues([d.p for d in diffs], st.correction)
    q = adjust_pvalues([tost_p(d, st.margin / 100) for d in diffs], st.correction)
    return [(float(a), float(b), "differs" if a < st.alpha else f"same within ±{st.margin:g}" if b < st.alpha
             else "inconclusive") for a, b in zip(p, q)]
