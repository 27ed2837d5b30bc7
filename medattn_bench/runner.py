"""Suite -> run matrix. ``plan`` resolves every (data set, variant, split seed, initialisation) into a
:class:`~medattn_bench.execute.RunSpec` with its record path and status; executors run the specs.
Resumable: a run whose record exists with the same config hash is done, so a suite killed at any
point completes only what is missing."""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from collections.abc import Callable

from .errors import MedattnError
from .execute import RunSpec
from .results import SuiteInfo, read_record, record_path, write_suite_info
from .suite import AttentionSpec, DatasetSpec, Suite, canonical_hash

ONLY_KEYS = ("dataset", "attention", "seed")


def protocol_of(suite: Suite, dataset: DatasetSpec) -> dict[str, Any]:
    """Everything about a run that is not the attention block or the seeds."""
    train = suite.train.model_dump(exclude={"epochs_per_dataset", "device", "threads"})
    train["epochs"] = suite.epochs_for(dataset.name)
    return {"dataset": dataset.model_dump(), "train": train, "split": suite.eval.split.model_dump()}


def plan(suite: Suite, only: dict[str, list[str]] | None = None, records_dir: Path | None = None) -> list[RunSpec]:
    """The run matrix (data set x variant x split seed x initialisation), filtered by ``only``,
    each row with its status."""
    records_dir = Path(records_dir or suite.records_dir())
    runs = []
    for d in suite.datasets:
        protocol = protocol_of(suite, d)
        for a in suite.attention:
            for seed in suite.seeds:
                if only and not _selected(only, d.name, a, seed):
                    continue
                for init in range(suite.init_seeds):
                    config = {**protocol, "attention": a.model_dump(), "seed": seed, "init_seed": init}
                    spec = RunSpec(suite=suite.name, dataset=d, attention=a, seed=seed, init_seed=init,
                                   train=suite.train, split=suite.eval.split, cam=suite.eval.cam,
                                   epochs=suite.epochs_for(d.name),
                                   config=config, config_hash=canonical_hash(config),
                                   path=str(record_path(records_dir, d.name, a.key, seed, init)))
                    spec.status = _status(spec)
                    runs.append(spec)
    return runs


def write_suite_settings(suite: Suite, suite_file: str, overrides: list[str], records_dir: Path | None = None) -> None:
    """``suite.json``: the suite's description and statistics, read by the leaderboard."""
    write_suite_info(Path(records_dir or suite.records_dir()),
                     SuiteInfo(name=suite.name, file=str(suite_file), overrides=list(overrides),
                               description=suite.description.strip(), stats=suite.eval.stats.model_dump(),
                               paper_reference=suite.paper_reference, check_against=suite.check_against))


def parse_only(exprs: list[str]) -> dict[str, list[str]]:
    """``dataset=ct,attention=cbam`` (repeatable; a key may repeat or use wildcards) -> filter."""
    only: dict[str, list[str]] = {}
    for expr in exprs:
        for part in filter(None, (p.strip() for p in expr.split(","))):
            key, sep, value = part.partition("=")
            if not sep or key not in ONLY_KEYS or not value:
                raise MedattnError(f"--only {part!r}: expected KEY=VALUE with KEY one of {', '.join(ONLY_KEYS)}")
            only.setdefault(key, []).append(value)
    return only


def _selected(only: dict[str, list[str]], dataset: str, a: AttentionSpec, seed: int) -> bool:
    def hit(key: str, *values: str) -> bool:
        pats = only.get(key)
        return pats is None or any(fnmatch.fnmatchcase(v, p) for p in pats for v in values)

    return hit("dataset", dataset) and hit("attention", a.key, a.name) and hit("seed", str(seed))


def _status(spec: RunSpec) -> str:
    path = Path(spec.path)
    if not path.exists():
        return "todo"
    try:
        rec = read_record(path)
    except ValueError:
        return "stale"
    if rec.config_hash != spec.config_hash:
        return "stale"
    return "done" if rec.status == "ok" else "failed"


def _to_run(runs: list[RunSpec], retry_failed: bool) -> list[RunSpec]:
    return [r for r in runs if r.status in ("todo", "stale") or (retry_failed and r.status == "failed")]


def _attach_costs(todo: list[RunSpec], costs: dict[str, dict]) -> None:
    for spec in todo:
        spec.cost = costs[spec.attention.key]


def run_suite(suite: Suite, suite_file: str, runs: list[RunSpec], overrides: list[str] | tuple[str, ...] = (),
              records_dir: Path | None = None, data_root: str | None = None, workers: int = 1, progress: bool = False,
              retry_failed: bool = False, log: Callable[[str], None] = print,
              runs_per_device: int = 1) -> dict[str, int]:
    """Run the planned ``runs`` that are not done on this machine: data loaded first (missing data
    fails before anything trains), cost measured once per variant, then the local executor."""
    from .execute import dataset_for
    from .executors import LocalExecutor, measure_costs
    from .plugins import _loaded

    write_suite_settings(suite, suite_file, list(overrides), records_dir)
    todo = _to_run(runs, retry_failed)
    root = data_root or suite.data_root
    for spec in todo:
        dataset_for(spec.dataset, root)
    if todo:
        c = suite.eval.cost
        _attach_costs(todo, measure_costs(todo, c.repeats, c.warmup, c.throughput, suite.train.threads))
        log(f"{len(todo)} run(s) to do, {len(runs) - len(todo)} already recorded")
    devices: tuple[str, ...] = ()
    if runs_per_device > 1 and todo:
        devices = _gpu_slots(suite, runs_per_device, log)
    counts = LocalExecutor(root, tuple(_loaded), workers, suite.train.threads, progress, log, devices).run(todo)
    return {**counts, "skipped": len(runs) - len(todo)}


def _gpu_slots(suite: Suite, runs_per_device: int, log: Callable[[str], None]) -> tuple[str, ...]:
    import torch

    from .executors.local import device_slots

    n = torch.cuda.device_count() if suite.train.device in ("auto", "cuda") else 0
    if n == 0:
        log(f"runs_per_device {runs_per_device}: no CUDA device here, so it does not apply; runs go as workers says")
        return ()
    return tuple(device_slots(n, runs_per_device))


def submit_suite(suite: Suite, suite_file: str, runs: list[RunSpec], ex, overrides: list[str] | tuple[str, ...] = (),
                 records_dir: Path | None = None, data_root: str | None = None, retry_failed: bool = False,
                 log: Callable[[str], None] = print) -> int:
    """Submit the runs not done and not already queued as one Slurm job array; return how many."""
    from .executors import measure_costs
    from .executors.slurm import SlurmExecutor, in_flight
    from .plugins import _loaded

    folder = Path(records_dir or suite.records_dir())
    write_suite_settings(suite, suite_file, list(overrides), records_dir)
    queued = in_flight(folder)
    todo = [r for r in _to_run(runs, retry_failed) if r.path not in queued]
    if queued:
        log(f"{len(queued)} run(s) still queued or running from an earlier submission: not submitted again")
    if not todo:
        return 0
    # Parameters and MACs here; throughput belongs to the compute node's device (medattn-bench profile there).
    _attach_costs(todo, measure_costs(todo, 1, 0, False))
    SlurmExecutor(folder, data_root or suite.data_root, tuple(_loaded), ex.partition, ex.time_min, ex.gpus, ex.cpus,
                  ex.mem_gb, ex.array_parallelism, log).submit(todo)
    return len(todo)
