"""``medattn-bench profile --recost SUITE``: every variant of a suite measured now, together, each
interleaved with the baseline, stored in the records folder's suite.json (the board prefers it to
the costs taken at training time). A row it did not re-measure is kept, never dropped."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from .errors import SuiteError


def recost(suite_file: Path, records: Path | None, overrides: list[str], repeats: int,
           log: Callable[[str], None], warn: Callable[[str], None]) -> str:
    from .executors.local import measure_costs
    from .records import load_suite_infos, write_suite_info
    from .runner import FolderLock, baseline_spec
    from .suite import load_suite

    s = load_suite(suite_file, overrides)
    folder = Path(records or s.records_dir())
    infos, _ = load_suite_infos(folder)
    info = infos.get(s.name)
    if info is None or Path(info.folder) != folder:
        raise SuiteError(f"{folder}: no suite.json of suite {s.name!r}; run the suite first (or name its --records)")
    if not overrides and info.overrides:  # the suite as it was run (e.g. a variant added with --set)
        s = load_suite(suite_file, info.overrides)
        log(f"with the overrides the suite was run with: {' '.join(info.overrides)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (s.train.threads or os.cpu_count() or 1) / 2:
        warn(f"load average {load:.1f} before measuring: other work shares the cores")
    base = baseline_spec(s)
    with FolderLock(folder):
        costs = measure_costs([SimpleNamespace(attention=a, train=s.train) for a in s.attention], max(repeats, 3),
                              s.eval.cost.warmup, True, s.train.threads, base)
        for a in s.attention:
            if "unavailable" in costs[a.key]:
                raise SuiteError(f"{suite_file}: attention {a.key!r}: {costs[a.key]['unavailable']}")
            tp = costs[a.key]["throughput"]
            log(f"{a.key}: train {tp['train_img_s']:.0f} img/s, {tp['train_ratio']:.2f}x {base.key if base else ''}"
                f" [{tp['train_ratio_min']:.2f}, {tp['train_ratio_max']:.2f}]; load {tp['load_avg']:.1f}")
        kept = {k: v for k, v in info.costs.items() if k not in costs}  # never drop a row it did not re-measure
        if kept:
            warn(f"kept the earlier cost rows of {', '.join(sorted(kept))}: not in the suite as given "
                 "(name them with --set to re-measure them beside the others)")
        write_suite_info(folder, info.model_copy(update={"costs": {**kept, **costs}}))
    return f"wrote the cost rows of {len(costs)} variants to {folder / 'suite.json'}; run: make leaderboard"
