"""Suite -> run matrix -> training runs -> records. Resumable: a run whose record exists with the
same config hash is skipped, so a suite killed at any point completes only what is missing."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .attention import ATTENTION
from .cost import measure_throughput, static_cost
from .data import ImageSet, load_dataset
from .data.splits import stratified_split
from .engine import TrainSettings, resolve_device, train_and_evaluate
from .engine.device import DeviceInfo, machine_summary
from .engine.train import Augment
from .errors import DataError, DivergedError, MedattnError
from .models import resnet18
from .plugins import provenance
from .results import SCHEMA_VERSION, git_info, read_record, record_path, write_json_atomic
from .stats import bootstrap_ci, delong_ci
from .suite import AttentionSpec, DatasetSpec, Suite, canonical_hash

ONLY_KEYS = ("dataset", "attention", "seed")


@dataclass
class RunSpec:
    dataset: DatasetSpec
    attention: AttentionSpec
    seed: int
    config: dict[str, Any]
    config_hash: str
    path: Path
    status: str = "todo"  # todo | done | failed | stale


def protocol_of(suite: Suite, dataset: DatasetSpec) -> dict[str, Any]:
    """Everything about a run that is not the attention block or the seed."""
    train = suite.train.model_dump(exclude={"epochs_per_dataset", "device", "threads"})
    train["epochs"] = suite.epochs_for(dataset.name)
    return {"dataset": dataset.model_dump(), "train": train, "split": suite.eval.split.model_dump()}


def plan(suite: Suite, only: dict[str, list[str]] | None = None, records_dir: Path | None = None) -> list[RunSpec]:
    """The run matrix (data set x variant x seed), filtered by ``only``, each row with its status."""
    records_dir = Path(records_dir or suite.records_dir())
    runs = []
    for d in suite.datasets:
        for a in suite.attention:
            for seed in suite.seeds:
                if only and not _selected(only, d.name, a, seed):
                    continue
                config = {**protocol_of(suite, d), "attention": a.model_dump(), "seed": seed}
                spec = RunSpec(d, a, seed, config, canonical_hash(config), record_path(records_dir, d.name, a.key, seed))
                spec.status = _status(spec)
                runs.append(spec)
    return runs


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
    if not spec.path.exists():
        return "todo"
    try:
        rec = read_record(spec.path)
    except ValueError:
        return "stale"
    if rec.get("config_hash") != spec.config_hash:
        return "stale"
    return "done" if rec["status"] == "ok" else "failed"


def _settings(suite: Suite, epochs: int) -> TrainSettings:
    t = suite.train
    aug = Augment(t.augment.hflip, t.augment.vflip, t.augment.rotate_deg, t.augment.translate, tuple(t.augment.scale))
    return TrainSettings(epochs=epochs, batch_size=t.batch_size, lr=t.lr, momentum=t.momentum,
                         weight_decay=t.weight_decay, lr_milestones=tuple(t.lr_milestones), lr_gamma=t.lr_gamma,
                         image_size=t.image_size, augment=aug)


def _run_in_worker(suite_json: dict, suite_file: str, data_root: str | None, plugins: list[str], spec: RunSpec,
                   threads: int) -> bool:
    """One run in a pool process (spawned: no state shared with the parent but what is passed)."""
    from .plugins import discover_entry_points, load_plugins
    from .suite import Suite as _Suite

    discover_entry_points()
    load_plugins(plugins)
    suite = _Suite.model_validate(suite_json)
    t = suite.train
    dev = resolve_device(t.device, t.precision, t.channels_last, threads, t.image_size)
    return SuiteRunner(suite, suite_file, data_root, progress=False, log=lambda m: None)._run_one(spec, dev, lambda e, l: None)


@dataclass
class SuiteRunner:
    suite: Suite
    suite_file: str
    data_root: str | None = None
    progress: bool = True
    retry_failed: bool = False
    log: Callable[[str], None] = print
    workers: int = 1  # runs at a time, each in its own process with threads / workers threads
    _datasets: dict[str, ImageSet] = field(default_factory=dict)
    _cost: dict[str, dict] = field(default_factory=dict)

    def run(self, runs: list[RunSpec]) -> dict[str, int]:
        git_info()  # pin the commit of the code this process imported
        todo = [r for r in runs if r.status in ("todo", "stale") or (self.retry_failed and r.status == "failed")]
        counts = {"skipped": len(runs) - len(todo), "ok": 0, "failed": 0}
        if not todo:
            return counts
        for spec in todo:  # load (and cache) the data first, so missing data fails before anything runs
            self._dataset(spec.dataset)
        if self.workers > 1 and len(todo) > 1:
            return self._run_pool(todo, counts)
        t = self.suite.train
        dev = resolve_device(t.device, t.precision, t.channels_last, t.threads, t.image_size)
        self.log(f"{len(todo)} run(s) to do, {counts['skipped']} already recorded; device {dev.device} "
                 f"({dev.name}), {dev.dtype}, channels_last={dev.channels_last}, {dev.threads} thread(s)")
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()]
        with Progress(*columns, disable=not self.progress, transient=False) as prog:
            overall = prog.add_task("suite", total=len(todo), loss="-")
            for spec in todo:
                epochs = spec.config["train"]["epochs"]
                task = prog.add_task(f"{spec.dataset.name}/{spec.attention.key}/seed{spec.seed}", total=epochs, loss="-")

                def on_epoch(epoch: int, loss: float, task: Any = task) -> None:
                    prog.update(task, completed=epoch, loss=f"{loss:.3f}")

                ok = self._run_one(spec, dev, on_epoch)
                counts["ok" if ok else "failed"] += 1
                prog.update(overall, advance=1)
                prog.remove_task(task)
        return counts

    def _run_pool(self, todo: list[RunSpec], counts: dict[str, int]) -> dict[str, int]:
        """Several runs at once on one device (CPU cores or one GPU), one process per slot."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from .plugins import _loaded

        threads = max(1, (self.suite.train.threads or torch.get_num_threads()) // self.workers)
        self.log(f"{len(todo)} run(s) to do, {counts['skipped']} already recorded; {self.workers} at a time, "
                 f"{threads} thread(s) each")
        ctx = multiprocessing.get_context("spawn")  # fork would copy OpenMP/CUDA state
        payload = (self.suite.model_dump(), self.suite_file, self.data_root, list(_loaded))
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
            futures = {pool.submit(_run_in_worker, *payload, spec, threads): spec for spec in todo}
            for fut in as_completed(futures):
                spec = futures[fut]
                ok = fut.result()
                counts["ok" if ok else "failed"] += 1
                self.log(f"{spec.dataset.name}/{spec.attention.key}/seed{spec.seed}: {'ok' if ok else 'failed'}")
        return counts

    def _dataset(self, spec: DatasetSpec) -> ImageSet:
        if spec.name not in self._datasets:
            root = self.data_root or self.suite.data_root
            self._datasets[spec.name] = load_dataset(spec.name, spec.options, root)
        return self._datasets[spec.name]

    def _split(self, data: ImageSet, name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        split = self.suite.eval.split
        if split.kind == "official":
            if data.official_split is None:
                raise DataError(f"eval.split.kind: data set {name!r} has no official split; use 'stratified'")
            return np.flatnonzero(data.official_split == "train"), np.flatnonzero(data.official_split == "test")
        groups = data.groups if split.group_duplicates else None
        return stratified_split(data.labels, name, seed, split.test_fraction, groups)

    def _leakage(self, data: ImageSet, spec: RunSpec, train_idx: np.ndarray, test_idx: np.ndarray) -> dict | None:
        """Duplicate groups crossing this run's split, and how many a group-unaware split would leak."""
        if data.groups is None:
            return None
        crossing = len(set(data.groups[train_idx].tolist()) & set(data.groups[test_idx].tolist()))
        naive_tr, naive_te = stratified_split(data.labels, spec.dataset.name, spec.seed, self.suite.eval.split.test_fraction)
        naive = len(set(data.groups[naive_tr].tolist()) & set(data.groups[naive_te].tolist()))
        return {**data.meta.get("audit", {}), "groups_crossing_split": crossing, "would_leak_without_grouping": naive}

    def _costs(self, a: AttentionSpec, dev: DeviceInfo) -> dict:
        if a.key not in self._cost:
            t, c = self.suite.train, self.suite.eval.cost
            out = {"static": static_cost(a.name, a.hparams, t.image_size).to_dict(),
                   "static_224": {k: v for k, v in static_cost(a.name, a.hparams, 224).to_dict().items()
                                  if k in ("params", "params_attention", "macs", "macs_attention")}}
            if c.throughput:
                out["throughput"] = measure_throughput(a.name, a.hparams, t.image_size, t.batch_size, dev, c.repeats,
                                                       c.warmup).to_dict()
            self._cost[a.key] = out
        return self._cost[a.key]

    def _run_one(self, spec: RunSpec, dev: DeviceInfo, on_epoch: Callable[[int, float], None]) -> bool:
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        data = self._dataset(spec.dataset)
        train_idx, test_idx = self._split(data, spec.dataset.name, spec.seed)
        entry = ATTENTION.entry(spec.attention.name)
        record: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "suite": {"name": self.suite.name, "file": self.suite_file, "description": self.suite.description},
            "run": {"dataset": spec.dataset.name, "variant": spec.attention.key, "attention": spec.attention.name,
                    "hparams": spec.attention.hparams, "seed": spec.seed},
            "config": spec.config,
            "config_hash": spec.config_hash,
            "protocol_hash": canonical_hash({k: v for k, v in spec.config.items() if k not in ("attention", "seed")}),
            "stats_settings": self.suite.eval.stats.model_dump(),
            "attention_block": {"paper": entry.meta.get("paper", ""), "placement": entry.meta.get("placement", "block"),
                                **provenance(entry.obj, entry.origin)},
            "data": {"n_images": len(data), "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                     "classes": list(data.classes), "meta": data.meta,
                     "test_ids_hash": canonical_hash([data.ids[i] for i in test_idx]),
                     "leakage": self._leakage(data, spec, train_idx, test_idx)},
            "env": {"package_version": __version__, "git": git_info(), "machine": machine_summary(),
                    "device": dev.to_dict()},
        }
        labels = data.labels[test_idx]
        try:
            torch.manual_seed(spec.seed)
            model = resnet18(spec.attention.name, spec.attention.hparams)
            out = train_and_evaluate(model, data.images, data.labels, train_idx, test_idx,
                                     _settings(self.suite, spec.config["train"]["epochs"]), dev, spec.seed, on_epoch)
        except DivergedError as exc:
            record.update(status="failed", failure=str(exc), metrics={}, test={})
            self.log(f"{spec.dataset.name}/{spec.attention.key}/seed{spec.seed}: failed: {exc}")
        else:
            st = self.suite.eval.stats
            record.update(
                status="ok", failure=None, history=out.history,
                metrics={"auc": delong_ci(labels, out.scores).auc,
                         "auc_ci_delong": delong_ci(labels, out.scores, st.ci_level).to_dict(),
                         "auc_ci_bootstrap": bootstrap_ci(labels, out.scores, st.ci_level, st.n_resamples,
                                                          st.ci_method, st.seed).to_dict(),
                         "n_test": int(len(labels)), "n_pos": int(labels.sum())},
                test={"ids": [data.ids[i] for i in test_idx], "labels": labels.tolist(),
                      "scores": [float(s) for s in out.scores]},
            )
            record["time_train_s"] = out.train_seconds
        record["cost"] = self._costs(spec.attention, dev)
        record["time"] = {"started": started.isoformat(timespec="seconds"),
                          "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                          "wall_s": round(time.perf_counter() - t0, 3)}
        write_json_atomic(spec.path, record)
        return record["status"] == "ok"
