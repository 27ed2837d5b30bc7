"""What a variant costs: parameters, MACs and the throughput measured beside the baseline, and
where a suite's runs came from."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from ..records import RunRecord, machine_label


CONTENDED_SPREAD = 0.15  # rounds whose variant/baseline ratios span more than ±15 %: a busy machine


def contended(tp: dict) -> bool:
    """A throughput measurement the board marks: its rounds' ratios spread by more than
    ±``CONTENDED_SPREAD``, or (CPU) the OS's load average exceeded the measurement's own threads."""
    lo, hi = tp.get("train_ratio_min"), tp.get("train_ratio_max")
    if lo and hi and hi / lo - 1 > 2 * CONTENDED_SPREAD:
        return True
    load, threads = tp.get("load_avg"), tp.get("threads") or 1
    return bool(load is not None and tp.get("device") == "cpu" and load > threads + 0.75)


def _cost_of(records: list[RunRecord], remeasured: dict | None = None) -> dict | None:
    """A variant's cost row: static cost from its records; throughput from a suite-level
    re-measurement (``profile --recost``) where there is one, else from its records (they carry
    the measurement made when they were trained), with where and how it was measured."""
    recs = [r for r in records if r.cost and r.cost.get("static")]
    if not recs:
        return None
    c = recs[0].cost
    tps = [r.cost["throughput"] for r in recs if isinstance(r.cost.get("throughput"), dict)]
    out = {"static": c["static"], "static_224": c.get("static_224")}
    if remeasured and isinstance(remeasured.get("throughput"), dict):
        tps, out["recost"] = [remeasured["throughput"]], True
    if tps:  # one machine's measurements only (the most common), never a median across machines
        where = Counter((t.get("device_name"), t.get("isa"), t.get("dtype"), t.get("batch_size"), t.get("image_size"))
                        for t in tps).most_common(1)[0][0]
        tps = [t for t in tps if (t.get("device_name"), t.get("isa"), t.get("dtype"), t.get("batch_size"),
                                  t.get("image_size")) == where]
        tp = {**tps[0], "train_img_s": statistics.median(t["train_img_s"] for t in tps),
              "infer_img_s": statistics.median(t["infer_img_s"] for t in tps)}
        for key in ("train_ratio", "infer_ratio"):
            vals = [t[key] for t in tps if t.get(key) is not None]
            tp[key] = statistics.median(vals) if vals else None
        tp["contended"] = any(contended(t) for t in tps)
        out["throughput"] = tp
    return out


def _provenance(records: list[RunRecord]) -> dict[str, Any]:
    machines: Counter = Counter()
    for r in records:
        d = r.env.get("device", {})
        machines[f"{machine_label(r)}, torch {d.get('torch_version')}"] += 1
    dates = sorted(r.time.finished[:10] for r in records)
    return {"machines": machines.most_common(), "dates": (dates[0], dates[-1]),
            "commits": sorted({(r.env.get("git", {}).get("commit") or "unknown")[:10] for r in records}),
            "split_kinds": sorted({str((r.config.get("split") or {}).get("kind", "stratified")) for r in records}),
            "n_runs": len(records), "n_failed": sum(not r.ok for r in records),
            "wall_hours": sum(r.time.wall_s for r in records) / 3600,
            # CPU time of the runs' processes (all threads), where a record has it: a paused run adds none
            "cpu_core_hours": sum(r.time.cpu_s for r in records if r.time.cpu_s is not None) / 3600,
            "n_cpu_timed": sum(r.time.cpu_s is not None for r in records)}
