"""Suite files: pydantic models that mirror the YAML one-to-one, and ``load_suite``.

Defaults are the protocol of Rao et al. 2021 (../shared/PROTOCOL.md). A suite may ``include:``
another file (path relative to itself) and override any key (``key: null`` drops the included
value, so the default applies); ``--set key.path=value`` overrides after that, ``--set key+=[...]`` appends to a list.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import MedattnError, SuiteError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A name from a suite becomes a folder of the records tree: letters, digits and _ . + - only, not
# starting with a dot, so no name can climb out of the records folder or hide in it.
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,99}$"
# ... and no folder name may look like a file the records folder keeps beside its records
RESERVED_ENDINGS = (".json", ".lock", ".tmp", ".damaged")


def _folder_name(value: str | None) -> str | None:
    if value is not None and (value.lower().endswith(RESERVED_ENDINGS) or ".damaged" in value.lower()):
        raise ValueError(f"{value!r} would name a records folder like a file kept beside the records; "
                         f"a name must not end in {', '.join(RESERVED_ENDINGS)} nor hold .damaged")
    return value


class DatasetSpec(_Strict):
    name: str = Field(description="registered data set name (medattn-bench list datasets)", pattern=SAFE_NAME)
    options: dict[str, Any] = Field(default_factory=dict)

    _folder = field_validator("name")(_folder_name)


class AttentionSpec(_Strict):
    name: str = Field(description="registered attention block name (medattn-bench list attention)", pattern=SAFE_NAME)
    label: str | None = Field(None, description="leaderboard row name; defaults to name (letters, digits, _ . + -)",
                              pattern=SAFE_NAME)
    hparams: dict[str, Any] = Field(default_factory=dict)

    _folder = field_validator("label")(_folder_name)
    init_offset: int = Field(0, ge=0, description="shifts this row's initialisation seeds; an A/A check lists the "
                             "baseline twice, the copy with init_offset: 1")

    @property
    def key(self) -> str:
        return self.label or self.name


class AugmentSpec(_Strict):
    hflip: bool = True
    vflip: bool = False
    rotate_deg: float = Field(0.0, ge=0, le=180)
    translate: float = Field(0.0, ge=0, le=0.5)
    scale: tuple[float, float] = (1.0, 1.0)


class TrainSpec(_Strict):
    epochs: int = Field(100, ge=1, le=100_000)
    epochs_per_dataset: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=dict, description="data set name -> epochs")
    batch_size: int = Field(64, ge=2, le=65_536)
    lr: float = Field(0.05, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0, le=1)
    lr_milestones: list[float] = Field(default_factory=lambda: [0.3, 0.6, 0.9])
    lr_gamma: float = Field(0.1, gt=0, le=1)
    image_size: int = Field(224, ge=16, le=1024)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    channels_last: Literal["auto"] | bool = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1)

    @field_validator("lr_milestones")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [f for f in v if not 0 < f < 1]
        if bad:
            raise ValueError(f"milestones are fractions of the epochs in (0, 1), got {bad}")
        return sorted(v)


class SplitSpec(_Strict):
    kind: Literal["stratified", "official", "kfold"] = Field(
        "stratified", description="stratified: a fresh 80/20 split per seed (test sets overlap across seeds); "
        "kfold: seed s is fold s % folds of repeat s // folds, so each image is tested once per repeat; "
        "official: the source's own train/test split")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="stratified splits only")
    folds: int = Field(5, ge=2, le=50, description="kfold splits only")
    group_duplicates: bool = True
    patient_groups: bool = Field(True, description="keep each patient's (or source case's) images on one side, "
                                 "where the file names carry it (cxr, ct, csv group column, imagefolder group_pattern)")


class StatsSpec(_Strict):
    baseline: str = "none"
    test: Literal["split_t", "random_effects", "split_bootstrap"] = Field(
        "split_t", description="the decisive test of a variant against the baseline (each carries training "
        "variance; see the A/A suite): the mean of per-split ΔAUC with a t interval over splits, DerSimonian-Laird "
        "+ Hartung-Knapp, or a bootstrap over splits (benchmarks/sim_pooled.py compares them)")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    margin: float = Field(1.0, gt=0, le=50, description="the smallest ΔAUC that matters, in AUC points: a variant is "
                          "'equivalent' to the baseline when two one-sided tests (Holm across the suite) put ΔAUC "
                          "inside ± margin. 1 point is below every gain Rao et al. reported as an improvement (the "
                          "smallest, SE on skin, is +1.78) and about the sd of a full-data ΔAUC between splits")
    power: float = Field(0.8, gt=0.5, lt=1, description="for the minimum detectable difference")
    n_resamples: int = Field(10000, ge=100, le=200_000)
    ci_level: float = Field(0.95, gt=0.5, lt=1)
    ci_method: Literal["bca", "percentile"] = Field("bca", description="CI of the case-only bootstrap")
    correction: Literal["holm", "bonferroni", "bh", "none"] = "holm"
    aa_block: int = Field(3, ge=2, description="splits per simulated suite when an A/A pair's false-positive rate "
                          "is measured")
    aa_looks: list[int] = Field(default_factory=list, description="also measure an A/A pair's false-positive rate "
                                "under a sequential suite's rule with looks at these split counts (e.g. [3, 6, 9], "
                                "as `splits: {min: 3, max: 9, step: 3}` gives): disjoint blocks of the last look's "
                                "size, each one simulated sequential suite")
    seed: int = 0

    @field_validator("aa_looks")
    @classmethod
    def _looks_increase(cls, v: list[int]) -> list[int]:
        if v and (v[0] < 2 or any(b <= a for a, b in zip(v, v[1:]))):
            raise ValueError(f"{v}: split counts must increase, the first at least 2 (e.g. [3, 6, 9])")
        return v


class CostSpec(_Strict):
    throughput: bool = True
    repeats: int = Field(5, ge=1)
    warmup: int = Field(2, ge=0)


class CamSpec(_Strict):
    """What each run keeps and measures of what its model looked at."""

    keep_weights: bool | list[int] = Field(False, description="save the final state_dict beside the record (.pt): "
                                           "true for every run, or a list of split seeds (ResNet-18: 45 MB a run)")
    localisation: bool = Field(True, description="Grad-CAM localisation scores on data sets with lesion masks")
    method: Literal["gradcam", "gradcam++"] = "gradcam"
    layer: Literal["layer1", "layer2", "layer3", "layer4"] = Field(
        "layer4", description="ResNet stage the CAM is taken on: layer4 as in the study (7x7 at 224 px; a 1x1 map, "
        "so a flat CAM, below 64 px); layer2 is 4x4 at 32 px")
    top_k: float = Field(0.1, gt=0, le=1, description="share of CAM pixels whose region is compared with the mask")
    max_images: int = Field(200, ge=1, description="positive test images scored per run (the first by id order)")


class EvalSpec(_Strict):
    split: SplitSpec = Field(default_factory=SplitSpec)
    cam: CamSpec = Field(default_factory=CamSpec)
    stats: StatsSpec = Field(default_factory=StatsSpec)
    cost: CostSpec = Field(default_factory=CostSpec)


class ExecutorSpec(_Strict):
    """Where runs execute. Not part of any run's config: the same run gives the same record anywhere."""

    kind: Literal["local", "slurm"] = "local"
    workers: int = Field(1, ge=1, description="local: runs at a time, each in its own process")
    runs_per_device: int = Field(1, ge=1, description="local, CUDA: runs sharing each GPU at once, each in its own "
                                 "process (a ResNet-18 on small images leaves most of a GPU idle); ignored on CPU")
    partition: str | None = Field(None, description="slurm: partition (default: the cluster's)")
    time_min: int = Field(60, ge=1, description="slurm: time limit per run in minutes")
    gpus: int = Field(0, ge=0, description="slurm: GPUs per run")
    cpus: int = Field(2, ge=1, description="slurm: CPUs per run (also its torch threads)")
    mem_gb: float = Field(8, gt=0, description="slurm: memory per run")
    array_parallelism: int = Field(16, ge=1, description="slurm: runs of the array at a time")


class SplitsSpec(_Strict):
    """A sequential suite: split seeds 0, 1, ... are added ``step`` at a time from ``min`` to
    ``max``; after each look a comparison that is better, worse or equivalent stops, and a data set
    stops when all of its comparisons have. Repeated looks spend α (``spending``), shared across the
    comparisons by ``correction``, so the error over all looks and comparisons stays at α."""

    min: int = Field(5, ge=2, le=1000)
    max: int = Field(20, ge=2, le=1000)
    step: int = Field(5, ge=1, le=1000)
    spending: Literal["obf", "linear"] = Field(
        "obf", description="how each comparison's α is spent over the looks: obf (Lan-DeMets O'Brien-Fleming: "
        "almost nothing early) or linear (α·t: a quarter at the first of four equal looks)")
    correction: Literal["holm", "bonferroni"] = Field(
        "holm", description="across the suite's comparisons: holm (each open comparison gets α/m_open, and a "
        "conclusion at any look passes its share on: Maurer & Bretz 2013) or bonferroni (α/m throughout); "
        "benchmarks/sim_sequential.py simulates both")

    @model_validator(mode="after")
    def _order(self) -> SplitsSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self

    def looks(self) -> tuple[int, ...]:
        out = list(range(self.min, self.max + 1, self.step))
        return tuple(out if out[-1] == self.max else out + [self.max])


class OutputSpec(_Strict):
    records: str | None = Field(None, min_length=1, pattern=r"\S",
                                description="records folder; default leaderboard/records/<suite name>")


class Suite(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    description: str = ""
    protocol: str = Field("", description="one line, shown beside the findings: this suite's protocol against the "
                          "study's (what was scaled, and how far the board's conclusions reach)")
    plugins: list[str] = Field(default_factory=list, description="modules to import for attention blocks")
    data_root: str | None = None
    datasets: list[DatasetSpec] = Field(min_length=1)
    attention: list[AttentionSpec] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1,
                             description="split seeds (with split.kind kfold: fold s % folds of repeat s // folds)")
    init_seeds: int = Field(1, ge=1, le=1000, description="initialisations trained per split and variant")
    splits: SplitsSpec | None = Field(None, description="instead of seeds: add split seeds until every comparison "
                                      "is resolved (sequential looks, α spent over them)")
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    paper_reference: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="published AUC (%) per data set and variant, shown beside ours")
    check_against: str | None = Field(
        None, description="another suite trained on the same splits: the board compares this suite's rows with "
                          "that suite's same-named rows (e.g. a longer training schedule against a shorter one)")

    @model_validator(mode="after")
    def _consistent(self) -> Suite:
        keys = [a.key for a in self.attention]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"attention rows must have distinct labels; {dup} repeat (set 'label:' to tell them apart)")
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"each data set may appear once, got {names}")
        unknown = sorted(set(self.train.epochs_per_dataset) - set(names))
        if unknown:
            raise ValueError(f"train.epochs_per_dataset names {unknown}, which are not in datasets {names}")
        if self.splits is not None:
            if "seeds" in self.model_fields_set:
                raise ValueError("give seeds (a fixed list) or splits (min, max, step: added until resolved), not both")
            self.seeds = list(range(self.splits.max))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {self.seeds}")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be >= 0, got {self.seeds}")
        return self

    def epochs_for(self, dataset: str) -> int:
        return self.train.epochs_per_dataset.get(dataset, self.train.epochs)

    def records_dir(self) -> Path:
        return Path(self.output.records or f"leaderboard/records/{self.name}")


# ---------------------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    if path.resolve() in chain:
        raise SuiteError(f"{path}: include cycle ({' -> '.join(str(p) for p in (*chain, path))})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the suite file as UTF-8") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SuiteError(f"{path}:{where} malformed YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: a suite is a mapping of keys (name, datasets, attention, ...), got {type(raw).__name__}")
    include = raw.pop("include", None)
    if include is None:
        return raw
    if not isinstance(include, str):
        raise SuiteError(f"{path}: include: expected one file path, got {include!r}")
    base = _read_yaml(path.parent / include, (*chain, path.resolve()))
    return _deep_merge(base, raw)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if v is None and k in out:  # `key: null` in the including file: back to the default
            del out[k]
            continue
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def apply_override(raw: dict[str, Any], expr: str) -> None:
    """Apply ``a.b.0.c=value`` (value parsed as YAML) or ``a.b+=[...]`` (append) in place."""
    eq = expr.find("=")
    append = eq > 0 and expr[eq - 1] == "+"
    key, value = expr[: eq - 1 if append else max(eq, 0)], expr[eq + 1 :]
    if eq <= 0 or not key.strip():
        raise SuiteError(f"--set {expr!r}: expected key.path=value or key.path+=[items]")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise SuiteError(f"--set {expr!r}: the value is not valid YAML") from None
    parts = key.strip().split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SuiteError(f"--set {expr!r}: {'.'.join(parts[:i]) or 'suite'} is a list of {len(node)}; "
                                 f"{part!r} is not an index in it")
            part = int(part)  # type: ignore[assignment]
        elif not isinstance(node, dict):
            raise SuiteError(f"--set {expr!r}: {'.'.join(parts[:i])} is a value, not a mapping")
        if last:
            if append:
                cur = node[part] if (isinstance(node, list) or part in node) else []
                if not isinstance(cur, list):
                    raise SuiteError(f"--set {expr!r}: += needs a list at {key}")
                node[part] = cur + (parsed if isinstance(parsed, list) else [parsed])
            else:
                node[part] = parsed
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]


def _error_lines(path: Path, err: ValidationError) -> str:
    merged: dict[str, list[str]] = {}
    for e in err.errors():
        # Drop pydantic's union-member tags (literal['auto'], bool, ...) from the key path.
        parts = [p for p in e["loc"] if isinstance(p, int) or ("[" not in str(p) and str(p) not in _TYPE_TAGS)]
        loc = ".".join(str(p) for p in parts)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = _model_at(tuple(parts[:-1]))
            valid = sorted(parent.model_fields) if parent else []
            close = difflib.get_close_matches(str(parts[-1]), valid, n=1)
            msg = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "") + (
                f" Valid keys: {', '.join(valid)}" if valid else "")
        elif e["type"] in ("literal_error", "bool_parsing", "int_parsing", "float_parsing"):
            msg = f"{msg}, got {e.get('input')!r}"
        merged.setdefault(loc, [])
        if msg not in merged[loc]:
            merged[loc].append(msg)
    return "\n".join(f"{path}: {loc}: {' or '.join(m)}" if loc else f"{path}: {' or '.join(m)}" for loc, m in merged.items())


_TYPE_TAGS = {"bool", "int", "float", "str", "list", "dict", "tuple", "function-after", "function-before"}


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = Suite
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", (ann,))
        nxt = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nxt is None:
            return None
        model = nxt
    return model


def load_suite(path: str | Path, overrides: list[str] | tuple[str, ...] = (), check: bool = True,
               plugins_given: bool = False) -> Suite:
    """Read, merge includes, apply ``--set`` overrides, validate, and check names against the
    registries (after importing the suite's plugins). With ``check=False`` (planning), names are
    checked without importing torch or any plugin: built-in names, and block names that an
    installed entry point, the suite's ``plugins:`` or ``--plugin`` (``plugins_given``) may provide
    are accepted; hyper-parameters and plugin contracts are checked when the runs start."""
    path = Path(path)
    raw = _read_yaml(path)
    for expr in overrides:
        apply_override(raw, expr)
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as err:
        raise SuiteError(_error_lines(path, err)) from None
    if check:
        check_names(suite, path)
    else:
        check_names_light(suite, path, plugins_given)
    return suite


def check_names_light(suite: Suite, path: Path, plugins_given: bool = False) -> None:
    from .names import BUILTIN_ATTENTION, BUILTIN_DATASETS, entry_point_names, unknown

    from .dataopts import options_model

    for i, d in enumerate(suite.datasets):
        if d.name not in BUILTIN_DATASETS:
            raise SuiteError(f"{path}: datasets.{i}.name: {unknown('data set', d.name, BUILTIN_DATASETS)}")
        _check_options(path, i, d, options_model(d.name))
    known = BUILTIN_ATTENTION + entry_point_names()
    for i, a in enumerate(suite.attention):
        if a.name not in known and not (plugins_given or suite.plugins):
            raise SuiteError(f"{path}: attention.{i}.name: {unknown('attention block', a.name, known)} (a block of a "
                             "plugin module that is not an entry point: list the module under plugins: or --plugin)")
    if suite.eval.stats.baseline not in [a.key for a in suite.attention]:
        raise SuiteError(f"{path}: eval.stats.baseline: {suite.eval.stats.baseline!r} is not one of the attention rows "
                         f"{[a.key for a in suite.attention]}")


def _check_options(path: Path, i: int, d: DatasetSpec, opts_model: Any) -> None:
    if opts_model is None:
        return
    try:
        opts_model(**d.options)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        valid = ", ".join(opts_model.model_fields)
        raise SuiteError(f"{path}: datasets.{i}.options.{loc}: {first['msg']} (options of {d.name!r}: {valid})") from None


def check_names(suite: Suite, path: Path) -> None:
    """Resolve plugins, then check every data set and attention name, options and hparams."""
    from .attention import ATTENTION, build_attention
    from .data import DATASETS
    from .plugins import discover_entry_points, load_plugins

    discover_entry_points()
    load_plugins(suite.plugins, source=f"{path}: plugins")
    for i, d in enumerate(suite.datasets):
        if d.name not in DATASETS:
            raise SuiteError(f"{path}: datasets.{i}.name: {DATASETS.unknown_message(d.name)}")
        _check_options(path, i, d, DATASETS.get(d.name).options)
    for i, a in enumerate(suite.attention):
        if a.name not in ATTENTION:
            raise SuiteError(f"{path}: attention.{i}.name: {ATTENTION.unknown_message(a.name)}")
        try:
            build_attention(a.name, 64, **a.hparams)
        except MedattnError as err:
            raise SuiteError(f"{path}: attention.{i}.hparams: {err}") from None
        except (TypeError, ValueError) as err:
            raise SuiteError(f"{path}: attention.{i}.hparams: {a.name!r} rejected {a.hparams}: {err}") from None
        except (Exception, SystemExit) as err:  # a plugin's own bug, or its sys.exit: one line, not an exit
            raise SuiteError(f"{path}: attention.{i}: building {a.name!r} ({ATTENTION.entry(a.name).origin}) "
                             f"raised {type(err).__name__}: {err}") from None
        if ATTENTION.entry(a.name).origin != "built-in":
            from .contract import check_block

            report = check_block(a.name, a.hparams)
            if not report.ok:
                raise SuiteError(f"{path}: attention.{i}: plugin block {a.name!r} ({ATTENTION.entry(a.name).origin}) "
                                 f"breaks the block contract: {'; '.join(report.failures)} "
                                 f"(details: medattn-bench plugin check {a.name})")
    if suite.eval.stats.baseline not in [a.key for a in suite.attention]:
        raise SuiteError(f"{path}: eval.stats.baseline: {suite.eval.stats.baseline!r} is not one of the attention rows "
                         f"{[a.key for a in suite.attention]}")


def canonical_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys), first 16 hex digits."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
