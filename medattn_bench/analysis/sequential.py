"""Multiplicity families (the suite's own rows, each added block its own) and the sequential
looks: which splits each comparison's look uses, and the verdicts with α spent over the looks."""

from __future__ import annotations

import numpy as np

from ..stats import Verdict, min_detectable, tost_p
from ..settings import SplitsSpec, StatsSpec
from .model import ComparisonRow, DatasetAnalysis
from .pairing import _decisive_from_parts


def families_of(rows: list[ComparisonRow], family: list[str] | None) -> list[list[ComparisonRow]]:
    """The multiplicity families: first the comparisons of the suite's own variants (``family``,
    recorded in suite.json when the suite first ran; every row when there is none), then one family
    per variant added later, over its data sets. A family's verdicts depend on its own p values
    only, so a submitted block never moves the study's rows, nor another submission's."""
    if not family:
        return [rows] if rows else []
    own = [r for r in rows if r.variant in family]
    added = sorted({r.variant for r in rows if r.variant not in family})
    return [own] + [[r for r in rows if r.variant == v] for v in added]


def _sequential_window(datasets: dict, seq: SplitsSpec, baseline: str) -> tuple[dict, dict[tuple[str, str], int]]:
    """Per data set and variant, the splits of its last complete look: the largest look size L
    with an ok run on each of split seeds 0 .. L-1 (a variant never past its baseline's, the
    baseline never past the furthest variant's, so its summary is over the splits compared). A
    comparison that concluded at a look is not trained further, so variants of one data set may
    stop at different looks; later splits wait for their look. A variant with no complete look
    (window 0) keeps every split it has, to be shown unjudged. Keys (data set, variant)."""
    out, windows = {}, {}

    def complete(runs: dict) -> int:
        n = 0
        while n < seq.max and any(k[0] == n and r.ok for k, r in runs.items()):
            n += 1
        done = [x for x in seq.looks() if x <= n]
        return done[-1] if done else 0

    for ds, variants in datasets.items():
        base = complete(variants.get(baseline, {}))
        for v, runs in variants.items():
            windows[(ds, v)] = min(complete(runs), base)
        others = [windows[(ds, v)] for v in variants if v != baseline]
        if baseline in variants and others:  # the baseline reaches as far as the variant it is paired with
            windows[(ds, baseline)] = min(base, max(others))  # furthest (its next look's runs wait with theirs)
        # a variant before its first look (a block added later, still short of it; or every variant,
        # before the data set's first look) keeps all of its splits: shown as an estimate, unjudged
        out[ds] = {v: {k: r for k, r in runs.items() if k[0] < windows[(ds, v)]} if windows[(ds, v)] else dict(runs)
                   for v, runs in variants.items()}
        out[ds] = {v: runs for v, runs in out[ds].items() if runs}
    return out, windows


def _sequential_verdicts(out_ds: dict[str, DatasetAnalysis], rows: list[ComparisonRow],
                         windows: dict[tuple[str, str], int], seq: SplitsSpec, st: StatsSpec,
                         parts: dict[tuple[str, str], list[tuple[float, float]]], baseline: str = "none",
                         status: bool = True) -> None:
    """Verdicts of a sequential suite, the looks walked in order. At look k an open comparison is
    better / worse when its p is below the look's nominal two-sided level for its share of α, and
    equivalent when its TOST p is below the one-sided level for its share (``seq.spending`` spends
    each share over the looks, ``stats.sequential_levels``); with ``seq.correction`` 'holm' the
    share is α/m_open, m_open the suite's comparisons not yet concluded that way, so a conclusion at
    any look passes its share on (Maurer & Bretz 2013), with 'bonferroni' α/m throughout. A
    comparison keeps the verdict of the look where it concluded; a data set stops when all of its
    comparisons have. The shown adjusted p is p · α / level, so '< α' decides as elsewhere.
    benchmarks/sim_sequential.py checks the error rates of both rules by simulation."""
    from ..stats import sequential_levels

    looks = seq.looks()
    tested = [r for r in rows if r.decisive is not None and (r.dataset, r.variant) in parts]
    m = max(1, len(tested))

    def level(share_of: int, k: int, one_sided: bool) -> float:
        j = m if seq.correction == "bonferroni" else max(1, share_of)
        if one_sided:
            return sequential_levels(min(2 * st.alpha / j, 0.999), looks, spending=seq.spending)[k] / 2
        return sequential_levels(st.alpha / j, looks, spending=seq.spending)[k]

    bw: dict[int, float] = {}  # id(row) -> the level it was rejected at (better / worse)
    eq: dict[int, float] = {}  # ... (equivalent)
    last: dict[int, tuple[int, Verdict, float]] = {}  # id(row) -> (look, verdict, TOST p) at its last look
    stopped_at: dict[str, int] = {}
    reached: dict[str, int] = {}  # data set -> the last look it has complete
    halted: set[str] = set()
    for k, n in enumerate(looks):
        live = [r for r in tested if r.dataset not in stopped_at and r.dataset not in halted
                and id(r) not in bw and id(r) not in eq]
        # a data set is at look k when its baseline and every comparison still open there have n splits
        for ds in sorted({r.dataset for r in live}):
            if (windows.get((ds, baseline), 0) < n
                    or any(windows.get((ds, r.variant), 0) < n for r in live if r.dataset == ds)):
                halted.add(ds)
        live = [r for r in live if r.dataset not in halted]
        for ds in {r.dataset for r in live}:
            reached[ds] = k
        for r in live:
            full = parts[(r.dataset, r.variant)]
            d = np.array(full[:n])
            # on all of the window's splits the row's own verdict (with τ); earlier looks from the parts
            v = r.decisive if n == len(full) == r.decisive.n_splits else _decisive_from_parts(d[:, 0], d[:, 1], st)
            last[id(r)] = (k, v, tost_p(v, st.margin / 100))
        for done, one_sided in ((bw, False), (eq, True)):
            while True:
                lvl = level(len(tested) - len(done), k, one_sided)
                new = [r for r in live if id(r) not in bw and id(r) not in eq
                       and (last[id(r)][2] if one_sided else last[id(r)][1].p) < lvl]
                if not new:
                    break
                for r in new:
                    done[id(r)] = lvl
        for ds in {r.dataset for r in live}:
            if all(id(r) in bw or id(r) in eq for r in tested if r.dataset == ds):
                stopped_at[ds] = k
    for r in rows:
        if id(r) not in last:  # before its data set's first look nothing is decided: estimates only
            r.p_adj = r.p_equiv_adj = float("nan")
            r.significant = r.equivalent = False
            n = len(parts.get((r.dataset, r.variant), ()))
            r.waiting = (f"{n} of the first look's {looks[0]} split seeds recorded" if n < looks[0] else
                         "its first look's split seeds are recorded; judged when the look's other rows are")
            continue
        k, v, pe = last[id(r)]
        r.decisive, r.p_equiv, r.look = v, pe, k
        two = bw.get(id(r), level(len(tested) - len(bw), k, False))
        one = eq.get(id(r), level(len(tested) - len(eq), k, True))
        r.significant, r.equivalent = id(r) in bw, id(r) in eq
        r.p_adj = min(1.0, v.p * st.alpha / two) if two > 0 else 1.0
        r.p_equiv_adj = min(1.0, pe * st.alpha / one) if one > 0 and np.isfinite(pe) else 1.0
    if not status:  # a submitted block's own family: its rows' verdicts, not the data sets' looks
        return
    for ds, d in out_ds.items():
        k = stopped_at.get(ds, reached.get(ds, -1))
        mine = [r for r in tested if r.dataset == ds]
        if k < 0:
            state, nxt = f"first look at {looks[0]} splits not reached", looks[0]
        elif ds in stopped_at:
            state, nxt = f"stopped at look {k + 1}: every comparison concluded", None
        elif looks[k] >= seq.max:
            state, nxt = f"stopped: the maximum of {seq.max} splits reached", None
        else:
            nxt = looks[k + 1]
            state = f"continues: next look at {nxt} splits"
        open_share = len(tested) - len(bw)
        # what an open comparison would need: splits for st.power to detect its observed Δ at the
        # last look's level for its current share (exact noncentral t on its own per-split sd)
        needs = {}
        for r in mine:
            if id(r) in bw or id(r) in eq or id(r) not in last:
                continue
            v = last[id(r)][1]
            sd = float(np.std(v.per_split, ddof=1)) if len(v.per_split) > 1 else float("nan")
            needs[r.variant] = min_detectable(sd, max(2, v.n_splits), level(open_share, len(looks) - 1, False),
                                              st.power, target=max(abs(v.delta), 1e-4)).seeds_for_one_point
        d.sequential = {"look": k + 1, "looks": len(looks), "splits": looks[k] if k >= 0 else 0, "max": seq.max,
                        "status": state, "next": nxt, "level": level(open_share, k, False) if k >= 0 else float("nan"),
                        "spending": seq.spending, "correction": seq.correction, "m": len(tested),
                        "concluded": sum(id(r) in bw or id(r) in eq for r in mine), "comparisons": len(mine),
                        "needs": needs}
