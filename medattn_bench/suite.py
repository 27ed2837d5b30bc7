"""Suite files: pydantic models that mirror the YAML one-to-one, and ``load_suite``.

Defaults are the protocol of Rao et al. 2021 (../shared/PROTOCOL.md). A suite may ``include:``
another file (path relative to itself) and override any key (``key: null`` drops the included
value, so the default applies); ``--set key.path=value`` overrides after that, ``--set key+=[...]`` appends to a list.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from .errors import MedattnError, SuiteError
from .jsonio import canonical_hash  # noqa: F401  (re-exported: a suite's config hashes)
from .settings import (  # noqa: F401  (re-exported: the sections of a suite)
    _Strict, DatasetSpec, AttentionSpec, AugmentSpec, TrainSpec, SplitSpec, StatsSpec, CostSpec, CamSpec, EvalSpec, ExecutorSpec, SplitsSpec, OutputSpec, SAFE_NAME, RESERVED_ENDINGS, _folder_name)


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


def refreshed_infos(records_dir: Path, write: bool = True) -> tuple[dict, list[str]]:
    """suite.json of each suite, refreshed from its suite file where that still exists, so a
    changed description or statistics setting reaches the board without retraining; the refreshed
    suite.json is written back unless ``write`` is False (``leaderboard --check`` only reads)."""
    from .records import load_suite_infos, write_suite_info

    infos, problems = load_suite_infos(records_dir)
    for name, info in infos.items():
        path = Path(info.file)
        if not path.is_file():
            continue
        try:
            raw = _read_yaml(path)
            for expr in info.overrides:
                apply_override(raw, expr)
            s = Suite.model_validate(raw)
        except (MedattnError, ValidationError) as exc:
            problems.append(f"{path}: not re-read ({str(exc).splitlines()[0]}); using its suite.json")
            continue
        if s.name != name:
            continue
        fresh = info.model_copy(update={"description": s.description.strip(), "protocol": s.protocol.strip(),
                                        "stats": s.eval.stats.model_dump(),
                                        "splits": s.splits.model_dump() if s.splits else None,
                                        "seeds": None if s.splits else list(s.seeds),
                                        "paper_reference": s.paper_reference, "check_against": s.check_against,
                                        # a folder from before families were recorded: the suite as it ran
                                        "family": info.family or [a.key for a in s.attention]})
        if fresh != info:
            if write:
                write_suite_info(Path(info.folder), fresh)
            infos[name] = fresh
    return infos, problems
