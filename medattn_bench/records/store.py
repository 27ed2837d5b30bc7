"""The records folder: one JSON file per run at ``<suite>/<data set>/<variant>/seedS[-initI].json``,
written atomically, read bounded (no link, FIFO or device followed), validated; ``suite.json``
read and written beside them; the code version a record names."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..jsonio import write_json_atomic, write_text_atomic
from .schema import RunRecord, SCHEMA_VERSION, SUITE_FILE, SuiteInfo


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
    from ..errors import RecordError

    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(Path(path).parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise RecordError(f"{path}: its folder leads outside the records folder {root} (through a symbolic link); "
                          "nothing written. Replace the link with a real folder")
    if os.path.islink(path):
        raise RecordError(f"{path}: is a symbolic link; nothing written through it. Remove it")
    return Path(path)


def text_sha256(text: str) -> str:
    """sha256 of a file's text as read: what a record's digest and a submission's file list name."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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
    rec.digest = text_sha256(text)
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

    from ..settings import SplitsSpec, StatsSpec  # the settings' own models: one definition of what is valid

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
