"""Suite -> run matrix. ``plan`` resolves every (data set, variant, split seed, initialisation) into a
:class:`~medattn_bench.execute.RunSpec` with its record path and status; executors run the specs.
Resumable: a run whose record exists with the same config hash is done, so a suite killed at any
point completes only what is missing."""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

from collections.abc import Callable

from .errors import MedattnError
from .execute import RunSpec
from .records import SCHEMA_VERSION, SuiteInfo, read_record, record_path, write_suite_info
from .outcome import analyse_recorded, protocol_of, suite_family
from .suite import AttentionSpec, Suite, canonical_hash

ONLY_KEYS = ("dataset", "attention", "seed")


def plan(suite: Suite, only: dict[str, list[str]] | None = None, records_dir: Path | None = None) -> list[RunSpec]:
    """The run matrix (data set x variant x split seed x initialisation), filtered by ``only``,
    each row with its status."""
    records_dir = Path(records_dir or suite.records_dir())
    targets = sequential_targets(suite, records_dir) if suite.splits else {}
    runs = []
    for d in suite.datasets:
        protocol = protocol_of(suite, d)
        for a in suite.attention:
            seeds = suite.seeds if not suite.splits else list(range(targets.get((d.name, a.key), targets[d.name])))
            for seed in seeds:
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


def sequential_targets(suite: Suite, records_dir: Path) -> dict:
    """A sequential suite's split seeds per data set (key: its name): the recorded runs of this
    protocol are analysed as the board does; a data set whose last complete look concluded every
    comparison, or reached ``max``, needs no more; otherwise the next look's splits (the first
    look's before it). A variant whose comparison has concluded (better, worse or equivalent) keeps
    the splits of the look where it did (key: (data set, variant)): it is not trained further.
    A block added after the suite first ran (not in suite.json's family) goes look by look in its
    own family, whatever look the data set is at or stopped at: its first look, then one more while
    its comparison is open, the baseline trained as far as it needs."""
    seq = suite.splits
    looks = seq.looks()
    a = analyse_recorded(suite, records_dir)
    out: dict = {}
    family = suite_family(suite, records_dir)
    baseline = suite.eval.stats.baseline
    for d in suite.datasets:
        state = a.datasets[d.name].sequential if a is not None and d.name in a.datasets else None
        comparisons = a.datasets[d.name].comparisons if state is not None else {}
        out[d.name] = looks[0] if state is None or state["look"] == 0 else state["next"] or state["splits"]
        for v, row in comparisons.items():
            if row.outcome in ("better", "worse", "equivalent") and row.look >= 0:
                out[(d.name, v)] = looks[row.look]
        for att in suite.attention if family else ():
            v = att.key
            if v == baseline or v in family or (d.name, v) in out:
                continue
            row = comparisons.get(v)
            k = row.look if row is not None and row.outcome == "inconclusive" else -1
            out[(d.name, v)] = looks[min(k + 1, len(looks) - 1)]
            out[(d.name, baseline)] = max(out.get((d.name, baseline), out[d.name]), out[(d.name, v)])
    return out


def write_suite_settings(suite: Suite, suite_file: str, overrides: list[str], records_dir: Path | None = None) -> None:
    """``suite.json``: the suite's description and statistics, read by the leaderboard; cost rows
    re-measured with ``profile --recost`` are kept."""
    from .records import load_suite_infos

    folder = Path(records_dir or suite.records_dir())
    old = load_suite_infos(folder)[0].get(suite.name) if (folder / "suite.json").is_file() else None
    write_suite_info(folder, SuiteInfo(name=suite.name, file=str(suite_file), overrides=list(overrides),
                                       description=suite.description.strip(), protocol=suite.protocol.strip(),
                                       stats=suite.eval.stats.model_dump(),
                                       paper_reference=suite.paper_reference, check_against=suite.check_against,
                                       splits=suite.splits.model_dump() if suite.splits else None,
                                       seeds=None if suite.splits else list(suite.seeds),
                                       costs=old.costs if old is not None and Path(old.folder) == folder else {},
                                       family=(old.family if old is not None and old.family
                                               else [a.key for a in suite.attention])))


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
    """todo (no record); done / failed (its record, intact); stale (recorded with another config:
    left alone unless told); newer / old (a record of a newer schema, or of schema 1: left alone);
    damaged (unreadable, or
    inconsistent with its own contents or place: set aside and redone)."""
    import json

    from .records.trust import record_problems

    path = Path(spec.path)
    if not path.exists():
        return "todo"
    try:
        rec = read_record(path)
    except ValueError:
        try:
            schema = json.loads(path.read_text()).get("schema")
        except (OSError, ValueError, AttributeError, RecursionError):
            schema = None
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            return "newer"
        return "old" if schema == 1 else "damaged"  # schema 1: `records migrate` keeps its results
    if record_problems(rec) or rec.suite != spec.suite:
        return "damaged"
    if rec.config_hash != spec.config_hash:
        return "stale"
    return "done" if rec.status == "ok" else "failed"


def _to_run(runs: list[RunSpec], retry_failed: bool, rerun_stale: bool = False) -> list[RunSpec]:
    return [r for r in runs if r.status in ("todo", "damaged") or (retry_failed and r.status == "failed")
            or (rerun_stale and r.status == "stale")]


def report_left_alone(runs: list[RunSpec], rerun_stale: bool, log: Callable[[str], None]) -> int:
    """Say which recorded runs this invocation leaves as they are, and why; return how many."""
    stale = [r for r in runs if r.status == "stale"] if not rerun_stale else []
    newer = [r for r in runs if r.status == "newer"]
    if stale:
        log(f"{len(stale)} run(s) are recorded with another config (e.g. {stale[0].path}) and are left as they are: "
            "to train them under this config, write elsewhere with --records DIR, or replace them with --rerun-stale")
    if newer:
        log(f"{len(newer)} record(s) have a newer schema than this medattn-bench reads (e.g. {newer[0].path}) and are "
            "left as they are: upgrade medattn-bench")
    old = [r for r in runs if r.status == "old"]
    if old:
        log(f"{len(old)} record(s) have schema 1 (e.g. {old[0].path}) and are left as they are: convert them with "
            f"medattn-bench records migrate {Path(old[0].path).parents[2]}")
    return len(stale) + len(newer) + len(old)


def set_aside_damaged(runs: list[RunSpec], log: Callable[[str], None]) -> None:
    """Move each damaged record to ``<name>.damaged`` (numbered if taken) before its run is redone:
    the evidence stays, and no reader takes it for a record."""
    for r in runs:
        if r.status != "damaged":
            continue
        path = Path(r.path)
        from .records import inside_folder

        inside_folder(path.parents[2], path)
        target, n = path.with_name(path.name + ".damaged"), 1
        while target.exists():
            target, n = path.with_name(f"{path.name}.damaged{n}"), n + 1
        try:
            path.rename(target)
        except FileNotFoundError:
            continue
        log(f"{path}: damaged record set aside as {target.name}; the run is redone")


MIN_FREE_MB = 200  # a record is ~0.1-1 MB, kept weights 45 MB: below this a finished run may not be saved


def check_free_space(folder: Path, todo: list[RunSpec]) -> None:
    """Refuse to start training when the records folder's disk could not hold the results: a run
    whose record cannot be written is training time lost."""
    import shutil

    keep = sum(1 for r in todo if r.cam.keep_weights is True or
               (isinstance(r.cam.keep_weights, list) and r.seed in r.cam.keep_weights))
    need = MIN_FREE_MB + 45 * keep
    free = shutil.disk_usage(folder).free / 2**20
    if free < need:
        raise MedattnError(f"{folder}: {free:.0f} MB free, and these {len(todo)} runs need about {need} MB for their "
                           "records and kept weights; free space (or use another --records folder) before training")


TMP_MAX_AGE_S = 600  # a record is written in milliseconds and weights in seconds: older temp files are debris


def clean_temp_files(folder: Path, log: Callable[[str], None], max_age_s: float = TMP_MAX_AGE_S) -> int:
    """Remove temporary files left by writers that were killed (``.<name>.*.tmp``, older than
    ``max_age_s``); called while holding the folder's lock."""
    import time

    now, n = time.time(), 0
    for tmp in Path(folder).rglob(".*.tmp"):
        try:
            if tmp.is_file() and now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                n += 1
        except OSError:
            continue
    if n:
        log(f"removed {n} temporary file(s) left by interrupted writers in {folder}")
    return n


class FolderLock:
    """One writer per records folder: an exclusive ``flock`` on ``<folder>/.lock``, which the OS
    releases when the holder dies however it dies (kill -9 included). The file names its holder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / ".lock"
        self._fh = None

    def __enter__(self) -> FolderLock:
        import fcntl
        import socket
        import sys
        from datetime import datetime, timezone

        import stat

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # never through a link, never onto something that is not a plain file (it would be truncated)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
        except OSError as exc:
            if os.path.islink(self.path):
                raise MedattnError(f"{self.path}: is a symbolic link; the lock file must be a plain file (remove "
                                   "the link)") from None
            raise MedattnError(f"{self.folder}: cannot write to the records folder ({exc.strerror or exc})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise MedattnError(f"{self.path}: is not a plain file; the lock file must be one (remove it)")
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise MedattnError(f"{self.folder}: another medattn-bench run is writing to this records folder "
                               f"({holder}); wait for it to finish, or use another --records folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                 f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}: {' '.join(sys.argv[:3])}\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the flock
            self._fh = None


def baseline_spec(suite: Suite) -> AttentionSpec | None:
    return next((a for a in suite.attention if a.key == suite.eval.stats.baseline), None)


def _attach_costs(todo: list[RunSpec], costs: dict[str, dict]) -> None:
    for spec in todo:
        spec.cost = costs[spec.attention.key]


def run_suite(suite: Suite, suite_file: str, runs: list[RunSpec], overrides: list[str] | tuple[str, ...] = (),
              records_dir: Path | None = None, data_root: str | None = None, workers: int = 1, progress: bool = False,
              retry_failed: bool = False, log: Callable[[str], None] = print,
              runs_per_device: int = 1, rerun_stale: bool = False) -> dict[str, int]:
    """Run the planned ``runs`` that are not done on this machine: data loaded first (missing data
    fails before anything trains), cost measured once per variant, then the local executor. Holds
    the records folder's lock throughout; the plan is re-read under it (another run may have
    finished some of these runs meanwhile)."""
    from .execute import dataset_for
    from .executors import LocalExecutor, measure_costs
    from .plugins import _loaded

    folder = Path(records_dir or suite.records_dir())
    with FolderLock(folder):
        for spec in runs:
            spec.status = _status(spec)
        clean_temp_files(folder, log)
        left = report_left_alone(runs, rerun_stale, log)
        todo = _to_run(runs, retry_failed, rerun_stale)
        if todo or not (folder / "suite.json").exists():  # an invocation that trains nothing rewrites nothing
            write_suite_settings(suite, suite_file, list(overrides), records_dir)
        root = data_root or suite.data_root
        for spec in todo:
            dataset_for(spec.dataset, root)
        if todo:
            check_free_space(folder, todo)
            set_aside_damaged(todo, log)
            since = seconds_since_process_start()
            log(f"{len(todo)} run(s) to do, {len(runs) - len(todo)} already recorded; the first starts "
                + (f"{since:.1f} s after the command" if since is not None else "now")
                + ("; each variant's throughput is measured after the runs" if suite.eval.cost.throughput else ""))
        devices: tuple[str, ...] = ()
        if runs_per_device > 1 and todo:
            devices = _gpu_slots(suite, runs_per_device, log)
        counts = LocalExecutor(root, tuple(_loaded), workers, suite.train.threads, progress, log, devices).run(todo)
        if todo and suite.eval.cost.throughput and counts.get("ok"):
            measure_after_runs(suite, todo, folder, log)
    return {**counts, "skipped": len(runs) - len(todo) - left, "left_alone": left}


def measure_after_runs(suite: Suite, todo: list[RunSpec], folder: Path, log: Callable[[str], None]) -> None:
    """Throughput of the variants that trained now and have no cost row yet, together and each
    beside the baseline (one training step each per round), measured once the runs are done so
    that no timing delays the first training step or competes with training; stored as their cost
    rows in the folder's suite.json, which the board's cost table reads. An existing row is never
    replaced (``profile --recost`` re-measures a suite's rows together, on an idle machine)."""
    from .executors import measure_costs
    from .records import load_suite_infos, write_suite_info

    info = load_suite_infos(folder)[0].get(suite.name)
    if info is None:
        return
    have = {k for k, v in info.costs.items() if isinstance((v or {}).get("throughput"), dict)}
    ok = [s for s in todo if _status(s) == "done" and s.attention.key not in have]
    specs = list({s.attention.key: s for s in ok}.values())
    base = baseline_spec(suite)
    if not specs:
        return
    c = suite.eval.cost
    t0 = time.perf_counter()
    costs = measure_costs(specs, c.repeats, c.warmup, True, suite.train.threads, base)
    costs = {k: v for k, v in costs.items() if isinstance(v.get("throughput"), dict)}
    if not costs:
        return
    write_suite_info(folder, info.model_copy(update={"costs": {**info.costs, **costs}}))
    log(f"throughput of {len(costs)} variant(s) measured after the runs in {time.perf_counter() - t0:.1f} s, "
        f"beside {base.key if base else 'nothing'}, into {folder / 'suite.json'}")


def seconds_since_process_start() -> float | None:
    """Wall seconds since this process started (imports included), from /proc on Linux; None
    where that is not available."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


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
                 log: Callable[[str], None] = print, rerun_stale: bool = False) -> int:
    """Submit the runs not done and not already queued as one Slurm job array; return how many."""
    from .executors import measure_costs
    from .executors.slurm import SlurmExecutor, in_flight
    from .plugins import _loaded

    folder = Path(records_dir or suite.records_dir())
    write_suite_settings(suite, suite_file, list(overrides), records_dir)
    queued = in_flight(folder)
    report_left_alone(runs, rerun_stale, log)
    todo = [r for r in _to_run(runs, retry_failed, rerun_stale) if r.path not in queued]
    if queued:
        log(f"{len(queued)} run(s) still queued or running from an earlier submission: not submitted again")
    if not todo:
        return 0
    set_aside_damaged(todo, log)
    # Parameters and MACs here; throughput belongs to the compute node's device (medattn-bench profile there).
    _attach_costs(todo, measure_costs(todo, 1, 0, False))
    SlurmExecutor(folder, data_root or suite.data_root, tuple(_loaded), ex.partition, ex.time_min, ex.gpus, ex.cpus,
                  ex.mem_gb, ex.array_parallelism, log).submit(todo)
    return len(todo)
