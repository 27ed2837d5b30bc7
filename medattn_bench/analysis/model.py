"""The analysis objects every renderer formats: per-variant summaries, comparison rows, A/A
results, localisation, per data set and per suite, and the names of the decisive tests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..claims import ClaimLabel
from ..records import RunRecord, SuiteInfo
from ..stats import Comparison, Power, RankSummary, Verdict, verdict
from ..settings import StatsSpec


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
    waiting: str = ""  # a fixed suite in progress, or a sequential one before its first look: how far it got
    family: int = 0  # 0: the suite's own rows; k > 0: a row added later, judged in a family of its own
    submission: str = ""  # a row added later: its submission and the maintainer's check, or "unverified: ..."

    @property
    def outcome(self) -> str:
        """better / worse (adjusted two-sided p < α), equivalent (adjusted TOST p < α), inconclusive."""
        if self.unjudged:
            return "not judged"
        if self.waiting:
            return "in progress"
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
    # split seed -> (machine here, machine there) where the two differ: such a split's difference
    # mixes the protocol with the machine (fp32 on other instruction sets trains other models)
    other_machine: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass
class EffectCheck:
    """A variant's ΔAUC over the baseline under this suite's protocol and under the protocol of the
    suite it checks against (``check_against``), on the splits where all four runs exist (same test
    images), and the difference of the two: does the attention effect depend on the protocol?"""

    other: str
    dataset: str
    variant: str
    seeds: list[int]
    here: Verdict  # variant minus baseline under this suite's protocol
    there: Verdict  # the same under the other suite's, on the same splits
    diff: Verdict  # here minus there, per split (one DeLong contrast of the four models)
    p_adj: float = float("nan")  # two-sided, adjusted across this suite's effect checks
    p_equiv_adj: float = float("nan")  # |difference| < margin (two one-sided tests), adjusted likewise
    # split seed -> (machine here, machine there) where the protocols' runs come from different
    # machines (each ΔAUC is still within one protocol's runs of the split)
    other_machine: dict[int, tuple[str, str]] = field(default_factory=dict)
    # differs (adjusted p < α), same (adjusted TOST p < α: within ± margin) or inconclusive; "in
    # progress" while this suite's planned split seeds are not all recorded (``waiting`` says how far)
    outcome: str = "inconclusive"
    waiting: str = ""
    # each suite's own verdict on the variant against its baseline, over that suite's splits (which
    # may be more than the shared ones: a sequential suite's look), e.g. "better (10 splits)"
    verdict_here: str = ""
    verdict_there: str = ""


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
    effects: list[EffectCheck] = field(default_factory=list)
