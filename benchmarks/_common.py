"""What the timing scripts share: the AVX2 caps, the machine header of a results file, saving it
under benchmarks/results/, and timing this checkout against another, interleaved."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# As on an AVX2-only CPU: ATen's kernels, oneDNN's and MKL's (its GEMMs) all capped.
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def header(avx2: bool) -> dict:
    from medattn_bench.engine.device import cpu_name, instruction_sets

    # instruction_sets: of this process; forced_caps: what the timed commands ran with
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_name(),
            "instruction_sets": instruction_sets(), "cores": os.cpu_count(), "avx2_forced": avx2,
            "forced_caps": AVX2 if avx2 else {}}


def save(prefix: str, avx2: bool, out: dict) -> None:
    path = ROOT / "benchmarks" / "results" / f"{prefix}-{'avx2-' if avx2 else ''}{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"saved {path}")


def compare_checkouts(prefix: str, one: Callable[[Path, bool], dict], before_help: str) -> None:
    """``--before OLD_CHECKOUT [--rounds N] [--avx2]``: ``one(checkout, avx2)`` for the other checkout
    and this one, alternating for N rounds; each result printed, all saved with both commits."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True, help=before_help)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--avx2", action="store_true", help="force AVX2 in both")
    args = ap.parse_args()

    def commit(path: Path) -> str:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()

    sides = {"before": args.before.resolve(), "after": ROOT}
    out = {**header(args.avx2), "commits": {k: commit(v) for k, v in sides.items()}, "rounds": {k: [] for k in sides}}
    for _ in range(args.rounds):
        for label, path in sides.items():
            out["rounds"][label].append(one(path, args.avx2))
            print(label, json.dumps(out["rounds"][label][-1]), flush=True)
    save(prefix, args.avx2, out)
