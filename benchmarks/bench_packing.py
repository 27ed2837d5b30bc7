"""How to pack runs on a 2-core CPU (``python benchmarks/bench_packing.py``): the demo's runs on one
phantom (12 runs) with 1 worker x 2 threads against 2 workers x 1 thread, interleaved A B A B, each
into a fresh records folder; wall time of the whole ``medattn-bench run`` command. JSON saved under
benchmarks/results/."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(workers: int, threads: int, dataset: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "medattn_bench.cli", "run", "suites/demo.yaml", "--records", tmp, "--no-progress",
               "--only", f"dataset={dataset}", "--workers", str(workers), "--set", f"train.threads={threads}",
               "--set", "eval.cam.keep_weights=false"]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dataset", default="phantom_ct")
    args = ap.parse_args()
    from medattn_bench.engine.device import cpu_name

    cores = os.cpu_count() or 2
    settings = {"1x%d" % cores: (1, cores), "%dx1" % cores: (cores, 1)}
    times: dict[str, list[float]] = {k: [] for k in settings}
    for _ in range(args.rounds):
        for label, (w, th) in settings.items():
            times[label].append(one(w, th, args.dataset))
            print(label, round(times[label][-1], 1), flush=True)
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_name(), "cores": cores,
           "suite": "suites/demo.yaml", "only": f"dataset={args.dataset}", "wall_s": times}
    path = ROOT / "benchmarks" / "results" / f"packing-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
