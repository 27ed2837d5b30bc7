"""The paper's claims against the board's comparisons (labelled by :mod:`medattn_bench.claims`),
and a suite compared with the suite it checks against (``check_against``) on the same splits."""

from __future__ import annotations

import numpy as np

from ..claims import claim_label, label_interval, label_level, sequential_label_level
from ..records import SuiteInfo, machine_label
from ..settings import SplitsSpec, StatsSpec
from .model import ComparisonRow, DatasetAnalysis, PaperClaim, SuiteAnalysis, SuiteCheck
from .pairing import _tests, paired_runs


def _claims(info: SuiteInfo, baseline: str, out_ds: dict[str, DatasetAnalysis], order: list[str],
            margin: float, alpha: float = 0.05, seq: SplitsSpec | None = None) -> list[PaperClaim]:
    """In the board's variant order (suite.json stores the reference with sorted keys, the YAML not).
    Each tested claim is labelled against its claims interval (claims.py): 1 - α/m over the m
    claims tested, or in a sequential suite the repeated interval at the comparison's look."""
    out = []
    rows: dict[int, ComparisonRow] = {}
    for ds_name, ref in sorted(info.paper_reference.items()):
        d = out_ds.get(ds_name)
        if d is None or baseline not in ref or baseline not in d.variants:
            continue
        for v in order:
            if v == baseline or v not in d.variants or v not in ref:
                continue
            row = d.comparisons.get(v)
            verdict_ = row.decisive if row is not None else None
            out.append(PaperClaim(ds_name, v, ref[baseline], ref[v], d.variants[baseline].mean, d.variants[v].mean,
                                  verdict_, row.p_adj if row is not None else float("nan"),
                                  bool(row is not None and row.significant), "not tested (needs ≥ 2 paired splits)",
                                  row.outcome if row is not None else "not tested"))
            if row is not None:
                rows[id(out[-1])] = row
    for c in out:
        if rows.get(id(c)) is not None and rows[id(c)].waiting:  # labelled when the suite's planned runs are in
            c.status = f"in progress ({rows[id(c)].waiting})"
    tested = [c for c in out if c.verdict is not None and not rows[id(c)].waiting]
    for c in tested:
        v, row = c.verdict, rows[id(c)]
        if seq is not None and row.look >= 0:
            level = sequential_label_level(alpha, len(tested), seq.looks(), seq.spending, row.look)
        else:
            level = label_level(alpha, len(tested))
        lo, hi = label_interval(100 * v.delta, 100 * v.se, v.df, level)
        c.label = claim_label(round(c.reported_delta, 6), lo, hi, level, margin)
        c.status = c.label.text
    return out


def _runs_shown(a: SuiteAnalysis) -> dict[str, dict[str, dict]]:
    """Each data set's variants' runs as the suite's own analysis uses them (a sequential suite's
    splits of a look not yet complete wait with the rest of its board)."""
    return {ds: {v: s.runs for v, s in {**d.variants, **d.aa_copies}.items()} for ds, d in a.datasets.items()}


def _checks(a: SuiteAnalysis, other: SuiteAnalysis | None, st: StatsSpec) -> list[SuiteCheck]:
    if other is None:
        return []
    here_g, there_g = _runs_shown(a), _runs_shown(other)
    out = []
    for ds_name, variants in sorted(here_g.items()):
        for v, runs in sorted(variants.items()):
            there = there_g.get(ds_name, {}).get(v)
            if not there:
                continue
            pr, _ = paired_runs(runs, there, f"{ds_name}: {v} in {a.name} vs {other.name}")
            here_auc = {k[0]: r.metrics.auc for k, r in sorted(runs.items()) if r.ok and k[1] == 0}
            # the other suite's runs on this suite's splits only: its later splits (a sequential
            # board that grew past the check) would make the two means and ranges cover other test sets
            there_auc = {k[0]: r.metrics.auc for k, r in sorted(there.items()) if r.ok and k[1] == 0 and k[0] in here_auc}
            if not here_auc or not there_auc:
                continue
            lo, hi = min(here_auc.values()), max(here_auc.values())
            tlo, thi = min(there_auc.values()), max(there_auc.values())
            out.append(SuiteCheck(other.name, ds_name, v, here_auc, there_auc, _tests(pr, st)[0] if pr else None,
                                  lo <= float(np.mean(list(there_auc.values()))) <= hi,
                                  tlo <= float(np.mean(list(here_auc.values()))) <= thi,
                                  other_machines([runs], [there], sorted(set(here_auc) & set(there_auc)))))
    return out


def other_machines(here: list[dict], there: list[dict], seeds: list[int]) -> dict[int, tuple[str, str]]:
    """Split seed -> (machines of this suite's runs, of the other's) where they differ; each side is
    a list of rows' runs ({(split seed, init): record})."""
    def label(rows: list[dict], seed: int) -> str:
        return " + ".join(sorted({machine_label(r) for runs in rows for k, r in runs.items() if k[0] == seed and r.ok}))

    pairs = {s: (label(here, s), label(there, s)) for s in seeds}
    return {s: pair for s, pair in pairs.items() if pair[0] != pair[1]}
