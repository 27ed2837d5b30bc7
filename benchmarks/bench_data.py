"""Decode-cache benchmark (``make bench-data``): first (cold) and second (cached) load of the
four real subsets in ../shared/datasets, 2,400 images; JSON saved under benchmarks/results/."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def main() -> None:
    from medattn_bench.data import load_dataset

    if not ROOT.is_dir():
        raise SystemExit(f"{ROOT} is missing: this benchmark reads the shared developer subsets")
    rows = []
    for rep in range(3):
        os.environ["MEDATTN_CACHE"] = tempfile.mkdtemp(prefix="medattn-cache-")
        for phase in ("first (decode + write cache)", "second (memory-mapped cache)"):
            t = time.perf_counter()
            n = sum(len(load_dataset(name, {"size": 128}, str(ROOT))) for name in ("skin", "cxr", "mri", "ct"))
            rows.append({"rep": rep, "phase": phase, "images": n, "seconds": time.perf_counter() - t})
            print(f"rep {rep} {phase:32s} {n} images in {rows[-1]['seconds']:.3f} s", flush=True)
    first = statistics.median(r["seconds"] for r in rows if r["phase"].startswith("first"))
    second = statistics.median(r["seconds"] for r in rows if r["phase"].startswith("second"))
    print(f"median first {first:.3f} s, second {second:.3f} s: {first / second:.1f}x faster")
    out = Path("benchmarks/results") / f"data-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "first_s": first, "second_s": second, "speedup": first / second,
                               "threads": os.cpu_count()}, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
