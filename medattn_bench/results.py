"""Run records: one JSON file per (suite, data set, variant, seed), written atomically.

A record is data: the resolved config and its hash, the per-sample test scores, metrics, cost,
environment and code version. Everything the leaderboard shows is derived from records.
A corrupt record is reported and skipped, never fatal to a whole report.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def record_path(records_dir: Path, dataset: str, variant: str, seed: int) -> Path:
    return Path(records_dir) / dataset / variant / f"seed{seed}.json"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder, fsync and ``os.replace``:
    a reader (or a run killed with -9) sees the old file, the new one, or none, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def read_record(path: Path) -> dict[str, Any]:
    """Parse one record; raises ValueError with the reason if it is not a usable record."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"not a medattn-bench record of schema {SCHEMA_VERSION}")
    for key in ("suite", "run", "status", "config_hash"):
        if key not in rec:
            raise ValueError(f"missing key {key!r}")
    return rec


def load_records(records_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All records below ``records_dir`` (sorted by path) and one problem line per skipped file."""
    records, problems = [], []
    for path in sorted(Path(records_dir).rglob("*.json")):
        try:
            rec = read_record(path)
        except ValueError as exc:
            problems.append(f"{path}: skipped: {exc}")
            continue
        rec["_path"] = str(path)
        records.append(rec)
    return records, problems


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
