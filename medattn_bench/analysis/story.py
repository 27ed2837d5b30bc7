"""The data set's own story as its records tell it: images, patients, duplicate groups, the
leakage a naive split would have had, the content hash."""

from __future__ import annotations

import statistics
from typing import Any

from ..records import RunRecord


def _story(variants: dict[str, dict[tuple[int, int], RunRecord]]) -> dict[str, Any]:
    """What the data looked like to the runs: images, groups and leakage, from the records."""
    recs = [r for v in variants.values() for r in v.values()]
    if not recs:
        return {}
    r0 = recs[0]
    leak = [r.data.get("leakage") or {} for r in recs]
    out: dict[str, Any] = {"images": r0.data.get("n_images"), "test": r0.data.get("n_test"),
                           "classes": r0.data.get("classes"), "content_hash": sorted({r.data.get("content_hash") or "–"
                                                                                    for r in recs})}
    meta = r0.data.get("meta") or {}
    audit = meta.get("audit") or {}
    out["duplicate_groups"] = audit.get("groups")
    out["patients"] = (meta.get("patients") or {}).get("patients")
    for what in ("duplicates", "patients"):
        entries = [lk.get(what) for lk in leak if isinstance(lk.get(what), dict)]
        if entries:
            out[f"{what}_would_leak"] = statistics.fmean(e.get("would_leak_without_grouping", 0) for e in entries)
            n_test = r0.data.get("n_test") or 1
            cut = [e["test_images_in_groups_a_blind_split_cuts"] for e in entries
                   if "test_images_in_groups_a_blind_split_cuts" in e]
            if cut:
                out[f"{what}_moved_share"] = statistics.fmean(cut) / n_test
    return out
