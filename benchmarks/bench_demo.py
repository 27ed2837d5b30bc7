"""The demo, timed as a new user meets it (``python benchmarks/bench_demo.py --before OLD_CHECKOUT``):
``medattn-bench run suites/demo.yaml`` into an empty records folder, this checkout against another
(e.g. a ``git worktree`` of an earlier commit), interleaved A B A B, optionally with AVX2 forced
(``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``, as on an AVX2-only CPU). Per command: its
wall time, the time to the first training step that ``run`` prints, the runs and their mean
training seconds (from the records). JSON saved under benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def one(checkout: Path, avx2: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(checkout), **(AVX2 if avx2 else {})}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "medattn_bench", "run", "suites/demo.yaml", "--records", tmp, "--no-progress"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(f"{checkout}: demo failed: {proc.stderr.strip().splitlines()[-1:]}")
        first = re.search(r"the first starts ([0-9.]+) s after the command", proc.stdout + proc.stderr)
        train = [json.loads(p.read_text())["time"]["train_s"] for p in Path(tmp).glob("*/*/seed*.json")]
    return {"wall_s": wall, "first_step_s": float(first.group(1)) if first else None, "runs": len(train),
            "mean_train_s": statistics.mean(train) if train else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True, help="the other checkout (its suites/demo.yaml and code)")
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
    path = ROOT / "benchmarks" / "results" / f"demo-{'avx2-' if args.avx2 else ''}{stamp}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
