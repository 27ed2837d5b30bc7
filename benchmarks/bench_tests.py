"""``make test`` timed in this checkout against another (``python benchmarks/bench_tests.py --before
OLD_CHECKOUT [--avx2]``): each side's own ``make test`` with its own code on ``PYTHONPATH``,
interleaved A B A B, optionally with AVX2 forced (``ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``, as on an AVX2-only CPU). Per command: wall time, pytest's own time and
its pass/skip/fail counts. JSON saved under benchmarks/results/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _common import AVX2, compare_checkouts


def one(checkout: Path, avx2: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHON": sys.executable, **(AVX2 if avx2 else {})}
    t = time.perf_counter()
    proc = subprocess.run(["make", "test", f"PYTHON={sys.executable}"], cwd=checkout, env=env, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", tail[0])}
    took = re.search(r" in ([0-9.]+)s", tail[0])
    return {"wall_s": round(wall, 2), "pytest_s": float(took.group(1)) if took else None, "returncode": proc.returncode,
            **counts}


def main() -> None:
    compare_checkouts("tests", one, "the other checkout (its Makefile, tests and code)")


if __name__ == "__main__":
    main()
