"""Runs on this machine: one after another, or ``workers`` at a time in spawned processes that
share the cores (``threads`` each); on CUDA, ``runs_per_device`` processes per GPU, each pinned to
its GPU with ``CUDA_VISIBLE_DEVICES`` before it touches CUDA."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..execute import RunSpec, run_and_store


def measure_costs(todo: list[RunSpec], repeats: int, warmup: int, throughput: bool,
                  threads: int | None = None, baseline: Any = None) -> dict[str, dict[str, Any]]:
    """Static cost and (optionally) throughput per variant, measured once here, before any run
    starts, so no timing competes with training for the cores. Keyed by variant key. With the
    suite's ``baseline`` (an AttentionSpec), the variants that train alike are timed together,
    round-robin with the baseline (:func:`~medattn_bench.cost.measure_beside_baseline`), and each
    stores its ratio to the baseline."""
    out: dict[str, dict[str, Any]] = {}
    specs: dict[str, Any] = {}
    for spec in todo:
        specs.setdefault(spec.attention.key, spec)
    together: dict[tuple, list] = {}
    for key, spec in specs.items():
        try:
            out[key] = cost_of_variant(spec.attention, spec.train, repeats, warmup, throughput and baseline is None,
                                       threads)
        except (Exception, SystemExit) as exc:  # the block cannot be built: its runs fail and say why
            out[key] = {"unavailable": f"{type(exc).__name__}: {exc}"}
            continue
        if throughput and baseline is not None:
            together.setdefault(spec.train.model_dump_json(), []).append(spec)
    for group in together.values():
        _measure_group(group, out, repeats, warmup, threads, baseline)
    return out


def _measure_group(group: list, out: dict, repeats: int, warmup: int, threads: int | None, baseline: Any) -> None:
    from ..cost import measure_beside_baseline
    from ..engine import resolve_device

    t = group[0].train

    def measure(members: list) -> list:
        dev = resolve_device(t.device, t.precision, t.channels_last, threads or t.threads, t.image_size, t.batch_size)
        return measure_beside_baseline([(s.attention.name, s.attention.hparams) for s in members],
                                       (baseline.name, baseline.hparams), t.image_size, t.batch_size, dev, repeats, warmup)

    try:
        done = list(zip(group, measure(group)))
    except (Exception, SystemExit):  # one block that cannot train must not take the others down: one by one
        done = []
        for s in group:
            try:
                done += list(zip([s], measure([s])))
            except (Exception, SystemExit) as exc:  # this block (or the baseline) cannot train: its runs say why
                out[s.attention.key] = {"unavailable": f"{type(exc).__name__}: {exc}"}
    for s, tp in done:
        out[s.attention.key]["throughput"] = {**tp.to_dict(), "baseline": baseline.key}


def cost_of_variant(a, t, repeats: int, warmup: int, throughput: bool, threads: int | None) -> dict[str, Any]:
    """Parameters and MACs (at the suite's size and at 224 px) and, with ``throughput``, images/s
    measured alone; :func:`measure_costs` times variants beside their baseline instead."""
    from ..cost import measure_throughput, static_costs
    from ..engine import resolve_device

    cost = static_costs(a.name, a.hparams, t.image_size)
    if throughput:
        dev = resolve_device(t.device, t.precision, t.channels_last, threads or t.threads, t.image_size, t.batch_size)
        cost["throughput"] = measure_throughput(a.name, a.hparams, t.image_size, t.batch_size, dev, repeats,
                                                warmup).to_dict()
    return cost


def device_slots(n_gpus: int, runs_per_device: int) -> list[str]:
    """One entry per worker process: the GPU index it is pinned to, GPUs filled in turn."""
    return [str(g) for _ in range(runs_per_device) for g in range(n_gpus)]


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker when the process that started it dies (kill -9
    included), so no orphan keeps training and writing records after its run was stopped."""
    import ctypes
    import ctypes.util
    import os
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the line above took effect
        os._exit(1)


def _worker_init(slots: Any = None) -> None:
    """Pool initializer: die with the parent; on CUDA take a GPU slot (CUDA reads
    CUDA_VISIBLE_DEVICES when it first initialises)."""
    import os

    _die_with_parent()
    if slots is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slots.get()


@dataclass
class LocalExecutor:
    data_root: str | None = None
    plugins: tuple[str, ...] = ()
    workers: int = 1
    threads: int | None = None  # per run; default: all cores / workers
    progress: bool = True
    log: Callable[[str], None] = print
    devices: tuple[str, ...] = ()  # GPU slots, one per worker process (see device_slots)

    def run(self, todo: list[RunSpec]) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0}
        if not todo:
            return counts
        if (self.workers > 1 or len(self.devices) > 1) and len(todo) > 1:
            return self._pool(todo, counts)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()]
        with Progress(*columns, disable=not self.progress, transient=False) as prog:
            overall = prog.add_task("suite", total=len(todo), loss="-")
            for spec in todo:
                task = prog.add_task(spec.name, total=spec.epochs, loss="-")

                def on_epoch(epoch: int, loss: float, task: Any = task) -> None:
                    prog.update(task, completed=epoch, loss=f"{loss:.3f}")

                ok = run_and_store(spec, self.data_root, self.plugins, on_epoch, self.threads)
                counts["ok" if ok else "failed"] += 1
                if not ok:
                    self.log(f"{spec.name}: failed (see its record)")
                prog.update(overall, advance=1)
                prog.remove_task(task)
        return counts

    def _pool(self, todo: list[RunSpec], counts: dict[str, int]) -> dict[str, int]:
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor, as_completed

        workers = len(self.devices) or self.workers
        threads = self.threads or max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")  # fork would copy OpenMP/CUDA state
        pin: dict[str, Any] = {"initializer": _worker_init}
        if self.devices:
            slots = ctx.Queue()
            for d in self.devices:
                slots.put(d)
            pin = {"initializer": _worker_init, "initargs": (slots,)}
            self.log(f"{workers} runs at a time on GPU(s) {','.join(sorted(set(self.devices)))} "
                     f"({len(self.devices) // len(set(self.devices))} per GPU), {threads} CPU thread(s) each")
        else:
            self.log(f"{workers} runs at a time, {threads} thread(s) each")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, **pin) as pool:
            futures = {pool.submit(run_and_store, spec, self.data_root, self.plugins, None, threads): spec for spec in todo}
            for fut in as_completed(futures):
                spec = futures[fut]
                ok = fut.result()
                counts["ok" if ok else "failed"] += 1
                self.log(f"{spec.name}: {'ok' if ok else 'failed'}")
        return counts
