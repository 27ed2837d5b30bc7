"""The run record (schema 2, pydantic :class:`RunRecord`), the suite's ``suite.json``
(:class:`SuiteInfo`), and the names the board gives a record's machine and arithmetic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..names import isa_label


SCHEMA_VERSION = 2
SUITE_FILE = "suite.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunInfo(_Model):
    dataset: str
    variant: str  # the leaderboard row (label or block name)
    attention: str
    hparams: dict[str, Any] = Field(default_factory=dict)
    seed: int  # split seed
    init_seed: int = 0  # index of the initialisation within the split


class TestScores(_Model):
    ids: list[str]
    labels: list[int]
    scores: list[float]  # P(class 1)


class Metrics(_Model):
    auc: float
    auc_ci_delong: dict[str, Any]
    n_test: int
    n_pos: int
    ece: float | None = None
    brier: float | None = None


class TimeInfo(_Model):
    started: str
    finished: str
    wall_s: float
    train_s: float | None = None
    cpu_s: float | None = None  # CPU seconds of the run's process, all its threads: a paused run adds none


class RunRecord(_Model):
    """One training run and its evaluation."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: Literal[2] = Field(2, alias="schema")
    suite: str
    run: RunInfo
    config: dict[str, Any]
    config_hash: str
    protocol_hash: str
    status: Literal["ok", "failed"]
    failure: str | None = None
    attention_block: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, Any] = Field(default_factory=dict)
    metrics: Metrics | None = None
    test: TestScores | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    cost: dict[str, Any] = Field(default_factory=dict)
    explain: dict[str, Any] | None = None  # Grad-CAM localisation scores per positive test image
    weights: dict[str, Any] | None = None  # file and sha256 of the kept state_dict
    time: TimeInfo
    path: str | None = Field(None, exclude=True)  # where it was read from; never written
    digest: str | None = Field(None, exclude=True)  # sha256 of the text read; never written

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.metrics is not None and self.test is not None


class SuiteInfo(_Model):
    """What a suite says about itself, written once per records folder by ``run``."""

    name: str
    file: str
    overrides: list[str] = Field(default_factory=list)
    description: str = ""
    protocol: str = ""
    stats: dict[str, Any] = Field(default_factory=dict)
    paper_reference: dict[str, dict[str, float]] = Field(default_factory=dict)
    check_against: str | None = None
    costs: dict[str, dict[str, Any]] = Field(default_factory=dict)  # variant -> cost re-measured together
    splits: dict[str, int | str] | None = None  # a sequential suite's min, max, step, spending, correction
    # a fixed suite's planned split seeds: its verdicts wait until every one is recorded (None: a
    # sequential suite, or a folder written before suite.json named them)
    seeds: list[Annotated[StrictInt, Field(ge=0)]] | None = None
    # the rows judged together (one multiplicity family), fixed when the suite first ran; a row added
    # later is a submission, judged in a family of its own (analysis.families_of)
    family: list[str] | None = None
    folder: str | None = Field(None, exclude=True)  # records folder it was read from; never written


def arithmetic_of(rec: RunRecord) -> int | str:
    """The training-arithmetic version a record was trained under (1 for records made before records
    named it; see :data:`medattn_bench.models.smallmap.ARITHMETIC`)."""
    v = rec.env.get("arithmetic", 1)
    return v if isinstance(v, int) and not isinstance(v, bool) else str(v)


def machine_label(rec: RunRecord) -> str:
    """The machine a record was computed on, as the board names it: device, instruction sets, precision,
    memory format and threads (CPU), and the training arithmetic where it is not the first (the same config under two versions, like on
    two instruction sets, gives two models, so a data set that mixes them is marked like mixed machines)."""
    dev = rec.env.get("device", {}) if isinstance(rec.env.get("device"), dict) else {}
    mach = rec.env.get("machine", {}) if isinstance(rec.env.get("machine"), dict) else {}
    arith = arithmetic_of(rec)
    tail = "" if arith == 1 else f", arithmetic {arith}"
    if dev.get("device") == "cuda":
        return f"{dev.get('name')} (CUDA, {dev.get('dtype')}{tail})"
    # on a CPU the thread count and the memory format choose other kernels and summation orders (a
    # 1-thread and a 2-thread run of one config differ on a Zen 3), so they name the arithmetic too
    layout = ", channels_last" if dev.get("channels_last") else ""
    return (f"{dev.get('name') or mach.get('cpu') or '?'} ({isa_label(mach.get('isa'))}, {dev.get('dtype')}{layout}, "
            f"{dev.get('threads')} threads{tail})")


def protocol_part(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's config shared by all rows it may be compared with."""
    return {k: v for k, v in config.items() if k not in ("attention", "seed", "init_seed")}
