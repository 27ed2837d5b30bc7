"""Records + suite settings -> plain dataclasses: per-variant summaries, the decisive comparison of
each variant with the baseline, power, the A/A check, ranks and costs. Pure and deterministic;
``leaderboard`` and ``compare`` only format what this module computes."""

from __future__ import annotations

import itertools
import statistics
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from .claims import ClaimLabel, claim_label, label_interval, label_level, sequential_label_level
from .errors import RecordError
from .results import RunRecord, SuiteInfo, machine_label
from .stable import stabilise
from .stats import (Comparison, PairedRun, Power, RankSummary, Verdict, adjust_pvalues, case_bootstrap_p, min_detectable,
                    paired_comparison, random_effects, rank_variants, split_bootstrap, split_bootstrap_deltas, split_delta,
                    split_t, tost_p, variance_growth, verdict)
from .settings import SplitsSpec, StatsSpec

TESTS = {"split_t": "mean of per-split ΔAUC with a t interval over splits",
         "random_effects": "random effects (DerSimonian-Laird τ², Hartung-Knapp t)",
         "split_bootstrap": "bootstrap over splits"}
SECOND = {"split_t": "random_effects", "random_effects": "split_bootstrap", "split_bootstrap": "split_t"}
OUTCOMES = ("better", "worse", "equivalent", "inconclusive")

MAX_AA_SUBSETS = 2000

# suite -> data set -> variant -> (split seed, init seed) -> record
Grouped = dict[str, dict[str, dict[str, dict[tuple[int, int], RunRecord]]]]


def group(records: list[RunRecord]) -> Grouped:
    out: Grouped = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in records:
        out[r.suite][r.run.dataset][r.run.variant][(r.run.seed, r.run.init_seed)] = r
    return out


@dataclass
class VariantSummary:
    variant: str
    cells: dict[tuple[int, int], RunRecord | None]  # None: failed
    mean: float
    sd: float
    ece: tuple[float, float]  # mean, sd
    brier: tuple[float, float]
    runs: dict[tuple[int, int], RunRecord] = field(default_factory=dict)  # every record, failed ones too


@dataclass
class ComparisonRow:
    dataset: str
    variant: str
    mixed: bool = False
    decisive: Verdict | None = None
    secondary: Verdict | None = None  # the other seed-level test
    case_only: Comparison | None = None
    p_adj: float = float("nan")
    significant: bool = False
    p_equiv: float = float("nan")  # two one-sided tests of |Δ| < margin
    p_equiv_adj: float = float("nan")
    equivalent: bool = False
    look: int = -1  # in a sequential suite, the index of the look whose verdict this row carries
    unjudged: str = ""  # why no verdict is given although the runs pair (e.g. another machine's baselines)
    family: int = 0  # 0: the suite's own rows; k > 0: a row added later, judged in a family of its own
    submission: str = ""  # a row added later: its submission and the maintainer's check, or "unverified: ..."

    @property
    def outcome(self) -> str:
        """better / worse (adjusted two-sided p < α), equivalent (adjusted TOST p < α), inconclusive."""
        if self.unjudged:
            return "not judged"
        if self.decisive is None:
            return "not tested"
        if self.significant:
            return "better" if self.decisive.delta > 0 else "worse"
        return "equivalent" if self.equivalent else "inconclusive"


@dataclass
class AAResult:
    """False-positive rates measured on an A/A pair (the baseline against itself, another init)."""

    dataset: str
    variant: str
    n_splits: int
    block: int
    n_blocks: int
    decisive_hits: int
    case_hits: int
    decisive_ci: tuple[float, float]
    case_ci: tuple[float, float]
    tau_init: float  # sd of per-split ΔAUC between two initialisations (training noise + cases)
    n_subsets: int = 0  # every choice of `block` splits out of all (overlapping, so descriptive)
    decisive_all: float = float("nan")
    case_delong_all: float = float("nan")  # the case-only test's analytic twin (pooled paired DeLong)
    n_subsets_all: int = 0  # how many there are; at most MAX_AA_SUBSETS of them (seeded) are tested
    # The sequential rule (eval.stats.aa_looks), on disjoint blocks of the last look's size: how
    # many blocks ended in a false rejection at some look, how many stopped as equivalent, with the
    # rejection rate's 95 % CI and the mean number of splits a block used before it stopped.
    looks: tuple[int, ...] = ()
    seq_blocks: int = 0
    seq_hits: int = 0
    seq_equivalent: int = 0
    seq_ci: tuple[float, float] = (float("nan"), float("nan"))
    seq_mean_splits: float = float("nan")


@dataclass
class Localisation:
    """Grad-CAM localisation of one variant on one data set: per-run means, then mean ± sd."""

    variant: str
    n_runs: int
    n_images: int
    energy: tuple[float, float]
    pointing: tuple[float, float]
    iou: tuple[float, float]
    seconds: float  # mean CAM time per run
    method: str
    layer: str
    versus: Verdict | None = None  # energy vs the baseline, decisive test over splits
    p_adj: float = float("nan")
    significant: bool = False


@dataclass
class DatasetAnalysis:
    name: str
    keys: list[tuple[int, int]]
    variants: dict[str, VariantSummary]
    comparisons: dict[str, ComparisonRow]
    power: Power | None
    story: dict[str, Any]
    localisation: dict[str, Localisation] = field(default_factory=dict)
    machines: list[tuple[str, int]] = field(default_factory=list)  # machine and instruction sets -> runs
    sequential: dict[str, Any] | None = None  # a sequential suite's look: look, looks, splits, max, status, next
    aa_copies: dict[str, VariantSummary] = field(default_factory=dict)  # A/A rows: judged in the A/A table

    @property
    def mixed_machines(self) -> bool:
        """Runs computed with different instruction sets or devices: not one arithmetic."""
        return len(self.machines) > 1


@dataclass
class PaperClaim:
    """One of the published results (variant vs baseline on a data set) beside this suite's test."""

    dataset: str
    variant: str
    reported_base: float  # AUC %, the paper's baseline mean
    reported: float  # AUC %, the paper's variant mean
    ours_base: float  # AUC fraction, this suite's means
    ours: float
    verdict: Verdict | None
    p_adj: float
    significant: bool
    status: str  # the label and its reason, as printed
    outcome: str = "not tested"  # our four-way verdict: better / worse / equivalent / inconclusive
    label: ClaimLabel | None = None  # None: not tested (claims.py)

    @property
    def reported_delta(self) -> float:  # AUC points
        return self.reported - self.reported_base


@dataclass
class SuiteCheck:
    """This suite's rows against another suite's same rows on the same splits (``check_against``)."""

    other: str
    dataset: str
    variant: str
    here: dict[int, float]  # split seed -> AUC
    there: dict[int, float]
    verdict: Verdict | None  # here minus there, the decisive test over the shared splits
    there_mean_in_range: bool  # the other suite's mean lies within this suite's seed range
    here_mean_in_range: bool


@dataclass
class SuiteAnalysis:
    name: str
    info: SuiteInfo
    settings: StatsSpec
    baseline: str
    order: list[str]
    datasets: dict[str, DatasetAnalysis]
    n_comparisons: int
    ranks: RankSummary
    rank_table: dict[str, dict[str, float]]
    costs: dict[str, dict | None]
    provenance: dict[str, Any]
    aa: list[AAResult] = field(default_factory=list)
    claims: list[PaperClaim] = field(default_factory=list)
    checks: list[SuiteCheck] = field(default_factory=list)


def _finite_mean_sd(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else float("nan"))


def summarize(variant: str, runs: dict[tuple[int, int], RunRecord]) -> VariantSummary:
    ok = [r for _, r in sorted(runs.items()) if r.ok]
    mean, sd = _finite_mean_sd([r.metrics.auc for r in ok])
    return VariantSummary(variant, {k: (r if r.ok else None) for k, r in sorted(runs.items())}, mean, sd,
                          _finite_mean_sd([r.metrics.ece for r in ok]), _finite_mean_sd([r.metrics.brier for r in ok]),
                          dict(sorted(runs.items())))


def paired_runs(a: dict[tuple[int, int], RunRecord], b: dict[tuple[int, int], RunRecord],
                where: str) -> tuple[list[PairedRun], list[int]]:
    """One PairedRun per split seed where both variants have successful runs, every init of each
    stacked; the runs are checked to hold the same test cases in the same order."""
    runs, seeds = [], []
    for seed in sorted({k[0] for k in a} & {k[0] for k in b}):
        ra = [r for k, r in sorted(a.items()) if k[0] == seed and r.ok]
        rb = [r for k, r in sorted(b.items()) if k[0] == seed and r.ok]
        if not ra or not rb:
            continue
        ids = ra[0].test.ids
        for r in ra + rb:
            if r.test.ids != ids:
                raise RecordError(f"{where}, seed {seed}: runs were tested on different cases ({ra[0].path} vs "
                                  f"{r.path}); records from different splits cannot be paired")
        runs.append(PairedRun.checked(ra[0].test.labels, [r.test.scores for r in ra], [r.test.scores for r in rb]))
        seeds.append(seed)
    return runs, seeds


def _one_test(runs: list[PairedRun], st: StatsSpec, name: str) -> Verdict:
    if name == "split_bootstrap":
        return split_bootstrap(runs, st.n_resamples, st.ci_level, st.seed)
    return verdict(runs, st.ci_level, name)


def _tests(runs: list[PairedRun], st: StatsSpec) -> tuple[Verdict | None, Verdict | None]:
    """The suite's decisive test and the second opinion shown beside it."""
    if len(runs) < 2:
        return None, None
    return _one_test(runs, st, st.test), _one_test(runs, st, SECOND[st.test])


def _is_aa(runs: dict[tuple[int, int], RunRecord], base: dict[tuple[int, int], RunRecord]) -> bool:
    """A row that trains exactly the baseline's recipe (same block and hparams) is an A/A copy."""
    ra, rb = next(iter(runs.values()), None), next(iter(base.values()), None)
    return bool(ra and rb and ra.run.attention == rb.run.attention and ra.run.hparams == rb.run.hparams)


def _story(variants: dict[str, dict[tuple[int, int], RunRecord]]) -> dict[str, Any]:
    """What the data looked like to the runs: images, groups and leakage, from the records."""
    recs = [r for v in variants.values() for r in v.values()]
    if not recs:
        return {}
    r0 = recs[0]
    leak = [r.data.get("leakage") or {} for r in recs]
    out: dict[str, Any] = {"images": r0.data.get("n_images"), "test": r0.data.get("n_test"),
                           "classes": r0.data.get("classes"), "content_hash": sorted({r.data.get("content_hash") or "–"
                                                                                    for r in recs})}
    meta = r0.data.get("meta") or {}
    audit = meta.get("audit") or {}
    out["duplicate_groups"] = audit.get("groups")
    out["patients"] = (meta.get("patients") or {}).get("patients")
    for what in ("duplicates", "patients"):
        entries = [lk.get(what) for lk in leak if isinstance(lk.get(what), dict)]
        if entries:
            out[f"{what}_would_leak"] = statistics.fmean(e.get("would_leak_without_grouping", 0) for e in entries)
            n_test = r0.data.get("n_test") or 1
            cut = [e["test_images_in_groups_a_blind_split_cuts"] for e in entries
                   if "test_images_in_groups_a_blind_split_cuts" in e]
            if cut:
                out[f"{what}_moved_share"] = statistics.fmean(cut) / n_test
    return out


def _loc_means(r: RunRecord, key: str) -> float:
    vals = [v for v in (r.explain or {}).get(key, []) if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _localisation(variant: str, runs: dict[tuple[int, int], RunRecord]) -> Localisation | None:
    ok = [r for _, r in sorted(runs.items()) if r.ok and r.explain and r.explain.get("n_images")]
    if not ok:
        return None
    return Localisation(variant, len(ok), int(np.mean([r.explain["n_images"] for r in ok])),
                        *(_finite_mean_sd([_loc_means(r, k) for r in ok]) for k in ("energy", "pointing", "iou")),
                        float(np.mean([r.explain.get("seconds", 0.0) for r in ok])), ok[0].explain.get("method", "gradcam"),
                        ok[0].explain.get("layer", "layer4"))


def _loc_verdict(a: dict[tuple[int, int], RunRecord], b: dict[tuple[int, int], RunRecord], st: StatsSpec,
                 key: str = "energy") -> Verdict | None:
    """Per split: the paired per-image difference of ``key`` (inits averaged), its mean and
    variance / n; across splits the same random-effects test as AUC."""
    deltas, variances = [], []
    for seed in sorted({k[0] for k in a} & {k[0] for k in b}):
        per = []
        for side in (a, b):
            rs = [r for k, r in side.items() if k[0] == seed and r.ok and r.explain and r.explain.get("n_images")]
            if not rs:
                break
            ids = rs[0].explain["ids"]
            if any(r.explain["ids"] != ids for r in rs):
                break
            vals = np.array([[np.nan if v is None else v for v in r.explain[key]] for r in rs], dtype=float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an image whose CAMs are all zero stays NaN
                per.append((ids, np.nanmean(vals, axis=0)))
        if len(per) < 2 or per[0][0] != per[1][0]:
            continue
        diff = per[0][1] - per[1][1]
        diff = diff[np.isfinite(diff)]
        if len(diff) < 2:
            continue
        deltas.append(float(diff.mean()))
        variances.append(float(diff.var(ddof=1) / len(diff)))
    if len(deltas) < 2:
        return None
    return random_effects(deltas, variances, st.ci_level)


def _decisive_from_parts(deltas: np.ndarray, variances: np.ndarray, st: StatsSpec) -> Verdict:
    """The suite's decisive test on per-split (ΔAUC, DeLong variance) already computed: the same
    delta, interval and p as :func:`_one_test` on the runs (τ is left out where the test does not
    use it), without re-computing every split's DeLong for each block and look of the A/A check."""
    if st.test == "random_effects":
        return random_effects(deltas, variances, st.ci_level)
    if st.test == "split_bootstrap":
        return split_bootstrap_deltas(deltas, st.n_resamples, st.ci_level, st.seed)
    return split_t(deltas, st.ci_level)


def _aa_result(ds: str, v: str, runs: list[PairedRun], st: StatsSpec) -> AAResult:
    block = st.aa_block
    parts = [split_delta(r) for r in runs]
    deltas = np.array([p[0] for p in parts])
    variances = np.array([p[1] for p in parts])
    starts = range(0, len(runs) - block + 1, block)
    blocks = [runs[i : i + block] for i in starts]
    dec = case = 0
    for i, b in zip(starts, blocks):
        dec += _decisive_from_parts(deltas[i : i + block], variances[i : i + block], st).p < st.alpha
        # The case-only bootstrap's p with its replicates' variance in closed form (no resampling).
        case += case_bootstrap_p(b) < st.alpha

    def ci(k: int, n: int | None = None) -> tuple[float, float]:
        n = len(blocks) if n is None else n
        if not n:
            return float("nan"), float("nan")
        r = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
        return float(r.low), float(r.high)

    subsets = list(itertools.combinations(range(len(runs)), block))
    n_all = len(subsets)
    if n_all > MAX_AA_SUBSETS:  # a seeded sample keeps the render (and CI's board check) fast
        pick = np.random.default_rng(st.seed).choice(n_all, MAX_AA_SUBSETS, replace=False)
        subsets = [subsets[i] for i in sorted(pick)]
    dec_all = case_all = 0
    for sub in subsets:
        sel = list(sub)
        sub = (random_effects(deltas[sel], variances[sel], st.ci_level) if st.test == "random_effects"
               else split_t(deltas[sel], st.ci_level))  # a split bootstrap's twin: the t test on the same deltas
        dec_all += sub.p < st.alpha
        z = deltas[sel].mean() / (np.sqrt(variances[sel].sum()) / block)
        case_all += 2 * sps.norm.sf(abs(z)) < st.alpha
    n_sub = max(len(subsets), 1)
    out = AAResult(ds, v, len(runs), block, len(blocks), dec, case, ci(dec), ci(case),
                   float(np.std(deltas, ddof=1)) if len(deltas) > 1 else float("nan"), len(subsets),
                   dec_all / n_sub, case_all / n_sub, n_all)
    if st.aa_looks:
        looks = tuple(st.aa_looks)
        seq = [runs[i : i + looks[-1]] for i in range(0, len(runs) - looks[-1] + 1, looks[-1])]
        hits, equiv, used = _aa_sequential(seq, looks, st, parts)
        out.looks, out.seq_blocks, out.seq_hits, out.seq_equivalent = looks, len(seq), hits, equiv
        out.seq_ci = ci(hits, len(seq))
        out.seq_mean_splits = float(np.mean(used)) if used else float("nan")
    return out


def _aa_sequential(blocks: list[list[PairedRun]], looks: tuple[int, ...], st: StatsSpec,
                   parts: list[tuple[float, float]] | None = None) -> tuple[int, int, list[int]]:
    """Each block one sequential suite with a single comparison, judged exactly as
    ``_sequential_verdicts`` judges a suite (m = 1): at look k, a false positive when the decisive
    p is below the look's O'Brien-Fleming level, a stop when the TOST p is below the one-sided
    level, else the next look. Returns (false positives, stops as equivalent, splits used).
    ``parts``: the per-split (ΔAUC, DeLong variance) of the blocks' runs in order, if known."""
    from .stats import sequential_levels

    two = sequential_levels(st.alpha, looks)
    one = tuple(x / 2 for x in sequential_levels(min(2 * st.alpha, 0.999), looks))
    hits = equiv = 0
    used = []
    at = 0
    for b in blocks:
        bp = parts[at : at + len(b)] if parts is not None else [split_delta(r) for r in b]
        at += len(b)
        deltas, variances = np.array([p[0] for p in bp]), np.array([p[1] for p in bp])
        for k, n in enumerate(looks):
            if n < 2:
                continue
            d = _decisive_from_parts(deltas[:n], variances[:n], st)
            if d.p < two[k]:
                hits += 1
                break
            pe = tost_p(d, st.margin / 100)
            if np.isfinite(pe) and pe < one[k]:
                equiv += 1
                break
        used.append(n)
    return hits, equiv, used


CONTENDED_SPREAD = 0.15  # rounds whose variant/baseline ratios span more than ±15 %: a busy machine


def contended(tp: dict) -> bool:
    """A throughput measurement the board marks: its rounds' ratios spread by more than
    ±``CONTENDED_SPREAD``, or (CPU) the OS's load average exceeded the measurement's own threads."""
    lo, hi = tp.get("train_ratio_min"), tp.get("train_ratio_max")
    if lo and hi and hi / lo - 1 > 2 * CONTENDED_SPREAD:
        return True
    load, threads = tp.get("load_avg"), tp.get("threads") or 1
    return bool(load is not None and tp.get("device") == "cpu" and load > threads + 0.75)


def _cost_of(records: list[RunRecord], remeasured: dict | None = None) -> dict | None:
    """A variant's cost row: static cost from its records; throughput from a suite-level
    re-measurement (``profile --recost``) where there is one, else from its records (they carry
    the measurement made when they were trained), with where and how it was measured."""
    recs = [r for r in records if r.cost and r.cost.get("static")]
    if not recs:
        return None
    c = recs[0].cost
    tps = [r.cost["throughput"] for r in recs if isinstance(r.cost.get("throughput"), dict)]
    out = {"static": c["static"], "static_224": c.get("static_224")}
    if remeasured and isinstance(remeasured.get("throughput"), dict):
        tps, out["recost"] = [remeasured["throughput"]], True
    if tps:  # one machine's measurements only (the most common), never a median across machines
        where = Counter((t.get("device_name"), t.get("isa"), t.get("dtype"), t.get("batch_size"), t.get("image_size"))
                        for t in tps).most_common(1)[0][0]
        tps = [t for t in tps if (t.get("device_name"), t.get("isa"), t.get("dtype"), t.get("batch_size"),
                                  t.get("image_size")) == where]
        tp = {**tps[0], "train_img_s": statistics.median(t["train_img_s"] for t in tps),
              "infer_img_s": statistics.median(t["infer_img_s"] for t in tps)}
        for key in ("train_ratio", "infer_ratio"):
            vals = [t[key] for t in tps if t.get(key) is not None]
            tp[key] = statistics.median(vals) if vals else None
        tp["contended"] = any(contended(t) for t in tps)
        out["throughput"] = tp
    return out


def _provenance(records: list[RunRecord]) -> dict[str, Any]:
    machines: Counter = Counter()
    for r in records:
        d = r.env.get("device", {})
        machines[f"{machine_label(r)}, torch {d.get('torch_version')}"] += 1
    dates = sorted(r.time.finished[:10] for r in records)
    return {"machines": machines.most_common(), "dates": (dates[0], dates[-1]),
            "commits": sorted({(r.env.get("git", {}).get("commit") or "unknown")[:10] for r in records}),
            "split_kinds": sorted({str((r.config.get("split") or {}).get("kind", "stratified")) for r in records}),
            "n_runs": len(records), "n_failed": sum(not r.ok for r in records),
            "cpu_hours": sum(r.time.wall_s for r in records) / 3600}


def analyse_suite(name: str, datasets: dict[str, dict[str, dict[tuple[int, int], RunRecord]]],
                  info: SuiteInfo | None, allow_mixed: bool = False) -> SuiteAnalysis:
    info = info or SuiteInfo(name=name, file="(no suite.json)")
    st = StatsSpec.model_validate(info.stats)
    baseline = st.baseline
    seq = SplitsSpec.model_validate(info.splits) if info.splits else None
    windows: dict[tuple[str, str], int] = {}
    if seq is not None:  # a sequential suite is judged on its last complete look only
        datasets, windows = _sequential_window(datasets, seq, baseline)
    rows: list[ComparisonRow] = []
    out_ds: dict[str, DatasetAnalysis] = {}
    aa: list[AAResult] = []
    spread: dict[str, tuple[float, int]] = {}  # pooled sd of per-split ΔAUC, splits
    power_runs: dict[str, list[PairedRun]] = defaultdict(list)  # the splits behind each data set's power line
    parts: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for ds_name, variants in sorted(datasets.items()):
        base = variants.get(baseline, {})
        ref = Counter(r.protocol_hash for r in base.values()).most_common(1)
        ref_hash = ref[0][0] if ref else None
        comps: dict[str, ComparisonRow] = {}
        split_var: list[tuple[float, int]] = []
        for v, runs in sorted(variants.items()):
            if v == baseline:
                continue
            # in a sequential suite a variant whose comparison concluded stops at that look's splits
            ref_keys = {k for k in base if (ds_name, v) not in windows or k[0] < windows[(ds_name, v)]}
            row = ComparisonRow(ds_name, v, mixed=any(r.protocol_hash != ref_hash for r in runs.values())
                                or set(runs) != ref_keys)
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
            row.case_only = paired_comparison(pr, st.n_resamples, st.ci_level, st.ci_method, st.seed)
            row.decisive, row.secondary = _tests(pr, st)
            rows.append(row)
            if len(pr) > 1:
                split_var.append((float(np.var([split_delta(r)[0] for r in pr], ddof=1)), len(pr) - 1))
                power_runs[ds_name].extend(pr)
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
                         _provenance(all_recs), aa, _claims(info, baseline, out_ds, order, st.margin, st.alpha, seq))


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
    with an ok run on each of split seeds 0 .. L-1 (a variant never past its baseline's). A
    comparison that concluded at a look is not trained further, so variants of one data set may
    stop at different looks; later splits wait for their look. Keys (data set, variant)."""
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
        out[ds] = {v: {k: r for k, r in runs.items() if k[0] < windows[(ds, v)]} for v, runs in variants.items()}
        out[ds] = {v: runs for v, runs in out[ds].items() if runs} or variants
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
    from .stats import sequential_levels

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
        if id(r) not in last:  # before its data set's first look nothing is decided
            r.p_adj = r.p_equiv_adj = float("nan")
            r.significant = r.equivalent = False
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
    tested = [c for c in out if c.verdict is not None]
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


def _checks(a: SuiteAnalysis, other: SuiteAnalysis | None, grouped: dict, st: StatsSpec) -> list[SuiteCheck]:
    if other is None:
        return []
    here_g, there_g = grouped[a.name], grouped[other.name]
    out = []
    for ds_name, variants in sorted(here_g.items()):
        for v, runs in sorted(variants.items()):
            there = there_g.get(ds_name, {}).get(v)
            if not there:
                continue
            pr, _ = paired_runs(runs, there, f"{ds_name}: {v} in {a.name} vs {other.name}")
            here_auc = {k[0]: r.metrics.auc for k, r in sorted(runs.items()) if r.ok and k[1] == 0}
            there_auc = {k[0]: r.metrics.auc for k, r in sorted(there.items()) if r.ok and k[1] == 0}
            if not here_auc or not there_auc:
                continue
            lo, hi = min(here_auc.values()), max(here_auc.values())
            tlo, thi = min(there_auc.values()), max(there_auc.values())
            out.append(SuiteCheck(other.name, ds_name, v, here_auc, there_auc, _tests(pr, st)[0] if pr else None,
                                  lo <= float(np.mean(list(there_auc.values()))) <= hi,
                                  tlo <= float(np.mean(list(here_auc.values()))) <= thi))
    return out


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
    from .analysis_cache import cached, suite_key

    grouped = group(records)
    out = []
    for name in sorted(grouped):
        recs = [r for by_v in grouped[name].values() for runs in by_v.values() for r in runs.values()]
        key = suite_key(name, recs, infos.get(name), allow_mixed)
        out.append(cached(key, lambda n=name: analyse_suite(n, grouped[n], infos.get(n), allow_mixed), SuiteAnalysis))
    by_name = {a.name: a for a in out}
    for a in out:
        _mark_submissions(a, marks or {})
        if a.info.check_against:
            a.checks = _checks(a, by_name.get(a.info.check_against), grouped, a.settings)
    # what every renderer prints must not depend on the last bits of a float (see stable.py)
    return [stabilise(a) for a in out]
