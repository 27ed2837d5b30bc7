"""The exports, timed cold as a user meets them (``python benchmarks/bench_export.py --before
OLD_CHECKOUT``): ``medattn-bench export --format F`` of the committed records for csv, jsonl and
latex, with the analysis cache off (a first export of new records), this checkout against another
(e.g. a ``git worktree`` of an earlier commit), interleaved A B A B. Both read the same records (a
copy of this checkout's ``leaderboard/records``), so only the code differs, and the tables each
writes are compared byte for byte. JSON saved under benchmarks/results/."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import AVX2, ROOT, compare_checkouts

FORMATS = ("csv", "jsonl", "latex")
_RECORDS = Path(tempfile.mkdtemp(prefix="medattn-bench-export-")) / "records"
_FIRST: dict[str, Path] = {}  # format -> the tables of the first side timed, to compare the other's with


def one(checkout: Path, avx2: bool) -> dict:
    if not _RECORDS.exists():
        shutil.copytree(ROOT / "leaderboard" / "records", _RECORDS)
    env = {**os.environ, "PYTHONPATH": str(checkout), "MEDATTN_ANALYSIS_CACHE": "off", **(AVX2 if avx2 else {})}
    out = {}
    for fmt in FORMATS:
        where = Path(tempfile.mkdtemp(prefix=f"export-{fmt}-"))
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "medattn_bench", "export", str(_RECORDS), "--format", fmt,
                               "--out", str(where)], cwd=checkout, env=env, capture_output=True, text=True)
        out[f"{fmt}_s"] = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(f"{checkout}: export --format {fmt} failed: {proc.stderr.strip().splitlines()[-1:]}")
        first = _FIRST.setdefault(fmt, where)
        files = sorted(p.name for p in where.iterdir())
        out[f"{fmt}_same_tables"] = files == sorted(p.name for p in first.iterdir()) and all(
            filecmp.cmp(first / f, where / f, shallow=False) for f in files)
    return out


def main() -> None:
    compare_checkouts("export", one, "the other checkout (its code; the records are this checkout's)")


if __name__ == "__main__":
    main()
