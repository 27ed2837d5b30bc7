"""The demo, timed as a new user meets it (``python benchmarks/bench_demo.py --before OLD_CHECKOUT``):
``medattn-bench run suites/demo.yaml`` into an empty records folder, this checkout against another
(e.g. a ``git worktree`` of an earlier commit), interleaved A B A B, optionally with AVX2 forced
(``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``, as on an AVX2-only CPU). Per command: its
wall time, the time to the first training step that ``run`` prints, the runs and their mean
training seconds (from the records). JSON saved under benchmarks/results/."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import AVX2, compare_checkouts


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
    compare_checkouts("demo", one, "the other checkout (its suites/demo.yaml and code)")


if __name__ == "__main__":
    main()
