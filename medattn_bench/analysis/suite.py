"""One suite's analysis from its records and settings (``analyse_suite``), and every suite's
(``analyse``), each kept in the analysis cache and rounded past machine noise."""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor

import numpy as np

from ..records import RunRecord, SuiteInfo, machine_label
from ..stable import stabilise
from ..stats import (PairedRun, adjust_pvalues, min_detectable, paired_comparisons, rank_variants, split_delta, tost_p,
                     variance_growth)
from ..settings import SplitsSpec, StatsSpec
from .aa import _aa_result
from .claims_and_checks import _checks, _claims
from .costs import _cost_of, _provenance
from .localisation import _loc_verdict, _localisation
from .model import AAResult, ComparisonRow, DatasetAnalysis, Localisation, SuiteAnalysis, group
from .pairing import _is_aa, _tests, paired_runs, summarize
from .protocol_check import effect_checks
from .parallel import bootstrap_pool, cores
from .sequential import _sequential_verdicts, _sequential_window, families_of
from .story import _story


def analyse_suite(name: str, datasets: dict[str, dict[str, dict[tuple[int, int], RunRecord]]],
                  info: SuiteInfo | None, allow_mixed: bool = False) -> SuiteAnalysis:
    """One suite's analysis; its case-only bootstraps run in threads beside the rest."""
    with ThreadPoolExecutor(max_workers=min(2, cores()), thread_name_prefix="medattn-bootstrap") as pool:
        analysis, pending = _analyse_suite(name, datasets, info, allow_mixed, pool)
        _finish(pending)
    return analysis


Pending = list[tuple[list[ComparisonRow], Future, tuple]]  # each data set's rows, their bootstraps, the job's arguments


def _finish(pending: Pending) -> None:
    """Each row's case-only comparison from its job; a job whose worker died (killed, out of
    memory) is computed here instead."""
    for rows, job, args in pending:
        try:
            done = job.result()
        except BrokenExecutor:
            done = paired_comparisons(*args)
        for row, c in zip(rows, done):
            row.case_only = c


def _submit(background: Executor, args: tuple) -> Future:
    try:
        return background.submit(paired_comparisons, *args)
    except BrokenExecutor:  # a worker died earlier: computed here
        done: Future = Future()
        done.set_result(paired_comparisons(*args))
        return done


def _analyse_suite(name: str, datasets: dict[str, dict[str, dict[tuple[int, int], RunRecord]]],
                   info: SuiteInfo | None, allow_mixed: bool, background: Executor) -> tuple[SuiteAnalysis, Pending]:
    """:func:`analyse_suite` with the case-only bootstraps submitted to ``background`` (numpy work,
    one job per data set) and left pending: the rows' ``case_only`` is set by :func:`_finish`."""
    info = info or SuiteInfo(name=name, file="(no suite.json)")
    st = StatsSpec.model_validate(info.stats)
    baseline = st.baseline
    seq = SplitsSpec.model_validate(info.splits) if info.splits else None
    windows: dict[tuple[str, str], int] = {}
    planned = set(info.seeds) if seq is None and info.seeds else set()  # a fixed suite's split seeds (suite.json)
    if seq is not None:  # a sequential suite is judged on its last complete look only
        datasets, windows = _sequential_window(datasets, seq, baseline)
    rows: list[ComparisonRow] = []
    out_ds: dict[str, DatasetAnalysis] = {}
    aa: list[AAResult] = []
    spread: dict[str, tuple[float, int]] = {}  # pooled sd of per-split ΔAUC, splits
    power_runs: dict[str, list[PairedRun]] = defaultdict(list)  # the splits behind each data set's power line
    parts: dict[tuple[str, str], list[tuple[float, float]]] = {}
    pending: Pending = []
    for ds_name, variants in sorted(datasets.items()):
        base = variants.get(baseline, {})
        ref = Counter(r.protocol_hash for r in base.values()).most_common(1)
        ref_hash = ref[0][0] if ref else None
        comps: dict[str, ComparisonRow] = {}
        split_var: list[tuple[float, int]] = []
        bootstrapped: list[tuple[ComparisonRow, list[PairedRun]]] = []  # case-only bootstraps, drawn together
        for v, runs in sorted(variants.items()):
            if v == baseline:
                continue
            # in a sequential suite a variant whose comparison concluded stops at that look's splits;
            # one before its first look (window 0) is shown on the splits it shares with the baseline, unjudged
            w = windows.get((ds_name, v))
            if seq is not None:
                keys_differ = bool(w) and set(runs) != {k for k in base if k[0] < w}
            else:  # a fixed suite still training its planned splits pairs on those recorded (and waits)
                keys_differ = set(runs) != set(base) and not (planned and {k[0] for k in (*runs, *base)} <= planned)
            row = ComparisonRow(ds_name, v, mixed=any(r.protocol_hash != ref_hash for r in runs.values())
                                or keys_differ)
            comps[v] = row
            if not base or (row.mixed and not allow_mixed):
                continue
            # Only runs of the baseline's reference protocol pair with each other (a suite being
            # re-run under a new split holds records of both); --allow-mixed pairs everything.
            base_ref = base if allow_mixed else {k: r for k, r in base.items() if r.protocol_hash == ref_hash}
            pr, _ = paired_runs(runs, base_ref, f"{ds_name}: {v} vs {baseline}")
            if not pr:
                continue
            crossed = sorted({(machine_label(runs[k]), machine_label(base_ref[k])) for k in runs if k in base_ref
                              and machine_label(runs[k]) != machine_label(base_ref[k])})
            if crossed and not allow_mixed:
                # another CPU or arithmetic trains another model: a pairing across machines measures the
                # machine as much as the block, so no verdict (its runs are still shown)
                row.unjudged = (f"its runs come from {crossed[0][0]}, the baseline's of the same splits from "
                                f"{crossed[0][1]}: train the baseline on that machine too (into the same "
                                "records folder), or compare on the baseline's machine")
                continue
            if _is_aa(runs, base):
                aa.append(_aa_result(ds_name, v, pr, st))
                del comps[v]  # an A/A copy is a check of the tests, not a leaderboard row
                continue
            if seq is not None:  # the looks are walked on each split's (ΔAUC, DeLong variance), in seed order
                parts[(ds_name, v)] = [split_delta(r) for r in pr]
            bootstrapped.append((row, pr))
            row.decisive, row.secondary = _tests(pr, st)
            rows.append(row)
            if len(pr) > 1:
                split_var.append((float(np.var([split_delta(r)[0] for r in pr], ddof=1)), len(pr) - 1))
                power_runs[ds_name].extend(pr)
        if bootstrapped:
            args = ([pr for _, pr in bootstrapped], st.n_resamples, st.ci_level, st.ci_method, st.seed)
            pending.append(([row for row, _ in bootstrapped], _submit(background, args), args))
        if split_var:
            df = sum(d for _, d in split_var)
            spread[ds_name] = (float(np.sqrt(sum(v * d for v, d in split_var) / df)) if df else float("nan"),
                               max(d for _, d in split_var) + 1)
        aa_here = {a.variant for a in aa if a.dataset == ds_name}
        out_ds[ds_name] = DatasetAnalysis(ds_name, sorted({k for v in variants.values() for k in v}),
                                          {v: summarize(v, runs) for v, runs in variants.items() if v not in aa_here},
                                          comps, None, _story(variants),
                                          machines=Counter(machine_label(r) for v in variants.values()
                                                           for r in v.values()).most_common(),
                                          aa_copies={v: summarize(v, variants[v]) for v in sorted(aa_here)})
    loc_rows: list[Localisation] = []
    for ds_name, da in out_ds.items():
        variants = datasets[ds_name]
        for v in da.variants:
            loc = _localisation(v, variants[v])
            if loc is None:
                continue
            da.localisation[v] = loc
            if v != baseline and baseline in variants:
                loc.versus = _loc_verdict(variants[v], variants[baseline], st)
                loc_rows.append(loc)
    for loc, q in zip(loc_rows, adjust_pvalues([r.versus.p if r.versus else np.nan for r in loc_rows], st.correction)):
        loc.p_adj = float(q)
        loc.significant = bool(np.isfinite(q) and q < st.alpha)
    # Multiplicity families: the suite's own rows (suite.json's family) are one; a row added later
    # (a submitted block) is a family of its own, so it never moves another row's verdict.
    families = families_of(rows, info.family)
    m = sum(r.decisive is not None for r in families[0]) if families else 0
    for k, fam in enumerate(families):
        p = adjust_pvalues([r.decisive.p if r.decisive else np.nan for r in fam], st.correction)
        for r, q in zip(fam, p):
            r.p_adj = float(q)
            r.significant = bool(np.isfinite(q) and q < st.alpha)
            r.family = k
        # Equivalence: two one-sided tests against ± margin, adjusted across the family like the above.
        for r in fam:
            r.p_equiv = tost_p(r.decisive, st.margin / 100) if r.decisive else float("nan")
        for r, q in zip(fam, adjust_pvalues([r.p_equiv for r in fam], st.correction)):
            r.p_equiv_adj = float(q)
            r.equivalent = bool(np.isfinite(q) and q < st.alpha)
        if seq is not None:
            _sequential_verdicts(out_ds, fam, windows, seq, st, parts, baseline, status=k == 0)
    if seq is None and info.seeds:
        _wait_for_planned(out_ds, datasets, info.family, set(info.seeds), baseline)
    # Power at the corrected alpha: Bonferroni, the most stringent Holm step.
    for ds_name, (sd, n_splits) in spread.items():
        out_ds[ds_name].power = min_detectable(sd, n_splits, st.alpha / max(m, 1), st.power,
                                               growth=variance_growth(power_runs[ds_name], sd))
    order = _order(datasets, baseline, {(a.dataset, a.variant) for a in aa})
    table: dict[str, dict[str, float]] = {}
    mixed = {(r.dataset, r.variant) for r in rows if r.mixed}
    for v in order:
        for d, da in out_ds.items():
            if v in da.variants and (allow_mixed or (d, v) not in mixed) and np.isfinite(da.variants[v].mean):
                table.setdefault(v, {})[d] = da.variants[v].mean
    ranked = {v: t for v, t in table.items() if set(t) == set(out_ds)}
    all_recs = [r for ds in datasets.values() for v in ds.values() for r in v.values()]
    costs = {v: _cost_of([r for ds in datasets.values() for r in ds.get(v, {}).values()], info.costs.get(v))
             for v in order}
    return SuiteAnalysis(name, info, st, baseline, order, out_ds, m, rank_variants(ranked), table, costs,
                         _provenance(all_recs), aa, _claims(info, baseline, out_ds, order, st.margin, st.alpha, seq)), pending


def _wait_for_planned(out_ds: dict[str, DatasetAnalysis], datasets: dict, family: list[str] | None,
                      planned: set[int], baseline: str) -> None:
    """A fixed suite in progress gives no verdict: a row waits until the variant and the baseline
    have a record (ok or failed) on each of the suite's planned split seeds, and so does every row
    judged with it (its multiplicity family: one row's p moves the others' adjusted p), as a
    sequential suite waits for a look's last run. Estimates are still shown."""
    every = []
    for ds, d in out_ds.items():
        have_base = {k[0] for k in datasets[ds].get(baseline, {})}
        for v, row in d.comparisons.items():
            every.append(row)
            have = planned & have_base & {k[0] for k in datasets[ds].get(v, {})}
            if have != planned:
                row.waiting = f"{len(have)} of {len(planned)} planned split seeds recorded"
    for fam in families_of(every, family):
        if any(r.waiting for r in fam):
            for r in fam:
                r.waiting = r.waiting or "its split seeds are recorded; judged with rows still in progress"
    for r in every:
        if r.waiting:  # no adjusted p, no verdict: every renderer shows the estimate alone
            r.p_adj = r.p_equiv_adj = float("nan")
            r.significant = r.equivalent = False


def _order(datasets: dict[str, dict[str, dict]], baseline: str, aa: set[tuple[str, str]]) -> list[str]:
    seen: dict[str, None] = {}
    for ds, variants in datasets.items():
        for v in variants:
            if (ds, v) not in aa:
                seen.setdefault(v)
    return [baseline] + sorted(v for v in seen if v != baseline) if baseline in seen else sorted(seen)


def _mark_submissions(a: SuiteAnalysis, marks: dict) -> None:
    """Each row added to the suite after it first ran says what its submission and the maintainer's
    check show (:func:`medattn_bench.submission.marks`), or that it has none."""
    for ds, d in a.datasets.items():
        for v, row in d.comparisons.items():
            mark = marks.get((a.name, ds, v))
            if mark is not None:
                row.submission = mark.text()
            elif row.family > 0:
                row.submission = f"{v}: unverified: not submitted (no maintainer's check)"


def analyse(records: list[RunRecord], infos: dict[str, SuiteInfo], allow_mixed: bool = False,
            marks: dict | None = None) -> list[SuiteAnalysis]:
    """Every suite in ``records``, sorted by name, every float rounded past machine noise
    (:func:`~medattn_bench.stable.stabilise`); ``marks``: the submitted rows' marks."""
    from .cache import lookup, store, suite_key

    grouped = group(records)
    recs = {n: [r for by_v in grouped[n].values() for runs in by_v.values() for r in runs.values()] for n in grouped}
    keys = {n: suite_key(n, recs[n], infos.get(n), allow_mixed) for n in grouped}
    found = {n: a for n in grouped if (a := lookup(keys[n], SuiteAnalysis)) is not None}
    # the suites with most test scores first: their bootstraps are the longest jobs
    todo = sorted((n for n in grouped if n not in found), key=lambda n: (-sum(len(r.test.ids) for r in recs[n] if r.test), n))
    with bootstrap_pool(sum(len(recs[n]) for n in todo)) as background:  # the bootstraps of every suite
        computed, pending = {}, []
        for n in todo:
            computed[n], more = _analyse_suite(n, grouped[n], infos.get(n), allow_mixed, background)
            pending += more
        _finish(pending)
    for n, a in computed.items():
        store(keys[n], a)
    out = [found.get(n) or computed[n] for n in sorted(grouped)]
    by_name = {a.name: a for a in out}
    for a in out:
        _mark_submissions(a, marks or {})
        if a.info.check_against:
            a.checks = _checks(a, by_name.get(a.info.check_against), a.settings)
            a.effects = effect_checks(a, by_name.get(a.info.check_against), a.settings)
    # what every renderer prints must not depend on the last bits of a float (see stable.py)
    return [stabilise(a) for a in out]
