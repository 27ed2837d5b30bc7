"""Runs on a Slurm cluster through submitit: one job array per invocation, each task one
:func:`~medattn_bench.execute.run_and_store`. Logs and a ledger of submitted jobs live beside the
records (``<records>/.slurm/``); records are written by the jobs themselves, atomically, so a
requeued or duplicated task at worst writes the same whole record again.

The scheduler's view comes from ``squeue`` only: clusters without accounting (``sacct``) are
common on small lab set-ups and in the test Slurm of this project's CI."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MedattnError
from ..execute import RunSpec, run_and_store

LEDGER = "jobs.json"


def slurm_dir(records_dir: Path) -> Path:
    return Path(records_dir) / ".slurm"


def read_ledger(records_dir: Path) -> dict[str, dict]:
    """Record path -> {job_id, submitted} of the last submission of each run."""
    try:
        return json.loads((slurm_dir(records_dir) / LEDGER).read_text())
    except (OSError, ValueError):
        return {}


def queued_jobs() -> dict[str, str]:
    """Job id -> state (PENDING, RUNNING, ...) of every job Slurm still holds; array tasks appear
    as ``<array>_<task>``."""
    if shutil.which("squeue") is None:
        raise MedattnError("squeue not found: this machine is not a Slurm client (install slurm-client, or run "
                           "with --executor local)")
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise MedattnError(f"squeue failed: {out.stderr.strip() or out.stdout.strip()}")
    return dict(line.split(None, 1) for line in out.stdout.splitlines() if line.strip())


def in_flight(records_dir: Path) -> set[str]:
    """Record paths whose last submitted job Slurm still holds (pending or running)."""
    ledger = read_ledger(records_dir)
    if not ledger:
        return set()
    queued = queued_jobs()
    return {path for path, job in ledger.items() if job["job_id"] in queued}


@dataclass
class SlurmExecutor:
    records_dir: Path
    data_root: str | None = None
    plugins: tuple[str, ...] = ()
    partition: str | None = None
    time_min: int = 60
    gpus: int = 0
    cpus: int = 2
    mem_gb: float = 8
    array_parallelism: int = 16
    log: Callable[[str], None] = print

    def submit(self, todo: list[RunSpec]) -> list[str]:
        """Submit ``todo`` as one job array and return the job ids; returns at once."""
        try:
            import submitit
        except ImportError:  # pragma: no cover - a declared dependency
            raise MedattnError("the slurm executor needs submitit: pip install submitit") from None
        if shutil.which("sbatch") is None:
            raise MedattnError("sbatch not found: this machine is not a Slurm client (or use --executor local)")
        if not todo:
            return []
        folder = slurm_dir(self.records_dir)
        executor = submitit.AutoExecutor(folder=folder / "logs" / "%j", cluster="slurm")
        params = dict(timeout_min=self.time_min, cpus_per_task=self.cpus, mem_gb=self.mem_gb,
                      slurm_array_parallelism=self.array_parallelism, name=f"medattn-{todo[0].suite}")
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        executor.update_parameters(**params)
        n = len(todo)
        threads = [self.cpus] * n
        jobs = executor.map_array(run_and_store, todo, [self.data_root] * n, [self.plugins] * n, [None] * n, threads)
        ledger = read_ledger(self.records_dir)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for spec, job in zip(todo, jobs):
            ledger[spec.path] = {"job_id": job.job_id, "submitted": now, "run": spec.name}
        from ..jsonio import write_json_atomic

        write_json_atomic(folder / LEDGER, ledger)
        self.log(f"submitted {n} run(s) as job array {jobs[0].job_id.split('_')[0]} "
                 f"(at most {self.array_parallelism} at a time); logs in {folder / 'logs'}")
        return [j.job_id for j in jobs]


def run_status(runs: list[RunSpec], records_dir: Path) -> list[tuple[RunSpec, str, str]]:
    """(spec, state, job id) per planned run: done / failed from the records; pending / running
    from Slurm for runs it still holds; 'lost' for a submitted run that left the queue without a
    record (cancelled, timed out, node failure); todo otherwise."""
    ledger = read_ledger(records_dir)
    queued = queued_jobs() if ledger else {}
    out = []
    for spec in runs:
        job = ledger.get(spec.path, {}).get("job_id", "")
        if spec.status == "done":
            state = "done"
        elif spec.status == "failed":
            state = "failed"
        elif job in queued:
            state = "running" if queued[job] in ("RUNNING", "COMPLETING") else "pending"
        elif job:
            state = "lost"
        else:
            state = spec.status  # todo or stale
        out.append((spec, state, job))
    return out
