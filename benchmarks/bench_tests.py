"""``make test`` timed in this checkout against another (``python benchmarks/bench_tests.py --before
OLD_CHECKOUT [--avx2]``): each side's own ``make test`` with its own code on ``PYTHONPATH``,
interleaved A B A B, optionally with AVX2 forced (``ATEN_CPU_CAPABILITY=avx2
ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``, as on an AVX2-only CPU). Per command: wall time, pytest's own time and
its pass/skip/fail counts. JSON saved under benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


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
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True, help="the other checkout (its Makefile, tests and code)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--avx2", action="store_true", help="force AVX2 in both")
    args = ap.parse_args()
    from medattn_bench.engine.device import cpu_name, instruction_sets

    def commit(path: Path) -> str:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()

    sides = {"before": args.before.resolve(), "after": ROOT}
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_name(),
           "instruction_sets": instruction_sets(), "cores": os.cpu_count(), "avx2_forced": args.avx2,
           "commits": {k: commit(v) for k, v in sides.items()}, "rounds": {k: [] for k in sides}}
    for _ in range(args.rounds):
        for label, path in sides.items():
            out["rounds"][label].append(one(path, args.avx2))
            print(label, json.dumps(out["rounds"][label][-1]), flush=True)
    stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    path = ROOT / "benchmarks" / "results" / f"tests-{'avx2-' if args.avx2 else ''}{stamp}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
