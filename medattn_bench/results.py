"""Run records: one JSON file per (suite, data set, variant, split seed, initialisation), written
atomically, read and validated by this module only.

A record is data: the resolved config and its hash, the per-sample test scores, metrics, cost,
environment and code version (pydantic :class:`RunRecord`, schema 2). Suite-level settings that
are not part of any run (description, statistics) live once in ``<records>/<suite>/suite.json``.
Everything the leaderboard shows is derived from records and that file. A record that fails
validation is reported and skipped, never fatal to a whole report.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .jsonio import canonical_hash, write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)
from .names import isa_label  # noqa: F401  (re-exported)

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


def record_path(records_dir: Path, dataset: str, variant: str, seed: int, init_seed: int = 0) -> Path:
    name = f"seed{seed}.json" if init_seed == 0 else f"seed{seed}-init{init_seed}.json"
    return Path(records_dir) / dataset / variant / name


def write_record(path: Path, record: RunRecord) -> None:
    write_json_atomic(path, record.model_dump(mode="json", by_alias=True))


def _validation_line(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"]) or "record"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{loc}: {e['msg']}{more}"


MAX_RECORD_BYTES = 32 * 2**20  # the largest record is about 0.1 MB (1,172 test scores); weights are kept apart


def read_bounded(path: Path, limit: int = MAX_RECORD_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes, read without following a symbolic
    link and without blocking (a FIFO or device named like a record is refused, not waited on);
    raises ValueError with the reason."""
    import stat

    try:
        st = os.lstat(path)
    except OSError as exc:
        raise ValueError(f"unreadable ({exc.strerror or exc})") from None
    if stat.S_ISLNK(st.st_mode):
        raise ValueError("a symbolic link; records are read only from regular files inside their folder")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file (a folder, FIFO or device named like a record); not read")
    if st.st_size > limit:
        raise ValueError(f"{st.st_size} bytes, more than a record can hold ({limit} at most); not read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ValueError(f"unreadable ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ValueError(f"more than {limit} bytes; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"unreadable (UnicodeDecodeError: {exc})") from None


def inside_folder(root: Path, path: Path) -> Path:
    """``path``, checked to lie inside ``root`` once every symbolic link is resolved and not to be a
    link itself: a records folder's writes never leave it. Raises RecordError (one line)."""
    from .errors import RecordError

    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(Path(path).parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise RecordError(f"{path}: its folder leads outside the records folder {root} (through a symbolic link); "
                          "nothing written. Replace the link with a real folder")
    if os.path.islink(path):
        raise RecordError(f"{path}: is a symbolic link; nothing written through it. Remove it")
    return Path(path)


def read_record(path: Path) -> RunRecord:
    """Parse and validate one record; raises ValueError with the reason if it is not usable."""
    text = read_bounded(path)
    try:
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:
        raise ValueError("unreadable (JSON nested too deeply to be a record)") from None
    if not isinstance(raw, dict):
        raise ValueError("not a medattn-bench record (not a JSON object)")
    if raw.get("schema") == 1:
        raise ValueError("schema 1 record; migrate it with: medattn-bench records migrate " + str(Path(path).parent))
    if raw.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"not a medattn-bench record of schema {SCHEMA_VERSION} (schema {raw.get('schema')!r})")
    try:
        rec = RunRecord.model_validate(raw)
    except ValidationError as err:
        raise ValueError(f"invalid record: {_validation_line(err)}") from None
    rec.path = str(path)
    rec.digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return rec


def record_files(records_dir: Path) -> list[Path]:
    """JSON files below ``records_dir`` that should be records: not suite.json, and nothing in a
    hidden folder (the slurm executor's ledger and logs live in .slurm/)."""
    root = Path(records_dir)
    return [p for p in sorted(root.rglob("*.json")) if p.name != SUITE_FILE
            and not any(part.startswith(".") for part in p.relative_to(root).parts)]


def load_records(records_dir: Path) -> tuple[list[RunRecord], list[str]]:
    """All records below ``records_dir`` (sorted by path) and one problem line per skipped file
    (a record reached through a symbolic link to a folder outside is one of them)."""
    records, problems = [], []
    real_root = os.path.realpath(records_dir)
    for path in record_files(records_dir):
        if os.path.commonpath([real_root, os.path.realpath(path.parent)]) != real_root:
            problems.append(f"{path}: skipped: reached through a symbolic link to a folder outside {records_dir}")
            continue
        try:
            records.append(read_record(path))
        except ValueError as exc:
            problems.append(f"{path}: skipped: {exc}")
    return records, problems


def suite_info_path(records_dir: Path) -> Path:
    return Path(records_dir) / SUITE_FILE


def write_suite_info(records_dir: Path, info: SuiteInfo) -> None:
    path = suite_info_path(records_dir)
    text = json.dumps(info.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"
    try:
        same = read_bounded(path) == text
    except (OSError, ValueError):  # missing, or not a plain file: rebuilt from the suite file
        same = False
    if not same:
        write_text_atomic(path, text)


def _settings_checked(path: Path, info: SuiteInfo, problems: list[str]) -> SuiteInfo:
    """``info`` with statistics and sequential settings that the analysis can take: settings out of
    range (a hand-edited suite.json) are named and replaced by the defaults, so the records beside
    them are still shown, never condemned."""
    from pydantic import ValidationError

    from .settings import SplitsSpec, StatsSpec  # the settings' own models: one definition of what is valid

    for key, model in (("stats", StatsSpec), ("splits", SplitsSpec)):
        value = getattr(info, key)
        if value is None:
            continue
        try:
            model.model_validate(value)
        except ValidationError as err:
            problems.append(f"{path}: {key}: {_validation_line(err)}; its records are shown with the default "
                            f"{'statistics settings' if key == 'stats' else 'fixed design'} instead")
            info = info.model_copy(update={key: {} if key == "stats" else None})
    return info


def load_suite_infos(root: Path) -> tuple[dict[str, SuiteInfo], list[str]]:
    """``suite.json`` of every suite below ``root``, by suite name, and one line per unusable file."""
    infos, problems = {}, []
    for path in sorted(Path(root).rglob(SUITE_FILE)):
        try:
            info = SuiteInfo.model_validate_json(read_bounded(path))
        except ValidationError as err:
            problems.append(f"{path}: skipped: {_validation_line(err)}; its records are shown without their suite's "
                            "settings (defaults used)")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: skipped: {str(exc).splitlines()[0]}")
            continue
        info = _settings_checked(path, info, problems)
        info.folder = str(path.parent)
        infos[info.name] = info
    return infos, problems


# ---------------------------------------------------------------------------------- migration


def migrate_v1(raw: dict[str, Any], patient_named: frozenset[str]) -> tuple[RunRecord, dict[str, Any]]:
    """A schema-1 record as a schema-2 record, and the suite settings it carried. Metrics are kept
    as they were, plus calibration computed from the record's own test scores.

    The config gains the keys schema 2 hashes, set to what the run actually did: one
    initialisation, no init offset, 5 (unused) folds, and patient grouping only where the data set
    has no patient names (so the split is the one patient grouping gives); ``patient_named`` lists
    the data sets whose names carry patients (their v1 runs did not group them)."""

    config = json.loads(json.dumps(raw["config"]))
    config["attention"].setdefault("init_offset", 0)
    config["split"].setdefault("folds", 5)
    config["split"].setdefault("patient_groups", config["dataset"]["name"] not in patient_named)
    config.setdefault("init_seed", 0)
    metrics = None
    if raw.get("status") == "ok":
        from .metrics import calibration

        m = raw["metrics"]
        # Calibration is new in schema 2; it derives from the stored test scores alone.
        metrics = Metrics(auc=m["auc"], auc_ci_delong=m["auc_ci_delong"], n_test=m["n_test"], n_pos=m["n_pos"],
                          **calibration(raw["test"]["labels"], raw["test"]["scores"]))
    run = raw["run"]
    rec = RunRecord(
        suite=raw["suite"]["name"],
        run=RunInfo(dataset=run["dataset"], variant=run["variant"], attention=run["attention"],
                    hparams=run.get("hparams") or {}, seed=run["seed"], init_seed=0),
        config=config, config_hash=canonical_hash(config),
        protocol_hash=canonical_hash(protocol_part(config)),
        status=raw["status"], failure=raw.get("failure"), attention_block=raw.get("attention_block", {}),
        data=raw.get("data", {}), env=raw.get("env", {}), metrics=metrics,
        test=TestScores(**raw["test"]) if raw.get("test") else None, history=raw.get("history", []),
        cost=raw.get("cost", {}),
        time=TimeInfo(**raw["time"], train_s=raw.get("time_train_s")),
    )
    settings = {"file": raw["suite"].get("file", ""), "description": raw["suite"].get("description", ""),
                "stats": raw.get("stats_settings", {})}
    return rec, settings


def protocol_part(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's config shared by all rows it may be compared with."""
    return {k: v for k, v in config.items() if k not in ("attention", "seed", "init_seed")}


@functools.lru_cache(maxsize=None)
def git_info(cwd: Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout holding the package, read once per process: the code
    a process runs is the code it imported at start, whatever HEAD becomes later."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return {"commit": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
