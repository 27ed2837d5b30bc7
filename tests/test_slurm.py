"""The slurm executor on a real Slurm (CI starts a one-node cluster with .ci/slurm-up.sh): a job
array lands every record; a cancelled array followed by a second run completes with no duplicate
and no lost record."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.records import load_records

SUITE = """\
name: slurmtiny
datasets:
  - {{name: phantom_ct, options: {{n_per_class: 24, size: 16}}}}
attention: [{{name: none}}, {{name: se}}]
seeds: [0, 1]
train: {{epochs: {epochs}, batch_size: 8, image_size: 16, lr: 0.01}}
eval: {{stats: {{n_resamples: 200}}, cost: {{throughput: false}}}}
executor: {{kind: slurm, cpus: 1, mem_gb: 2, time_min: 10}}
"""


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mix", "alloc"))


@pytest.fixture
def slurm():
    if not _slurm_up():
        if os.environ.get("MEDATTN_REQUIRE_SLURM"):
            pytest.fail("MEDATTN_REQUIRE_SLURM is set but no Slurm answers (start one: bash .ci/slurm-up.sh)",
                        pytrace=False)
        pytest.skip("no Slurm on this machine (CI starts one with .ci/slurm-up.sh)")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medattn_bench.cli", *args], capture_output=True, text=True, timeout=300)


def _wait(records: Path, n: int, timeout: float = 240) -> list:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list(records.rglob("seed*.json"))) >= n:
            break
        time.sleep(0.5)
    return sorted(records.rglob("seed*.json"))


def _queued(job: str) -> bool:
    out = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True)
    return bool(out.stdout.strip())


@pytest.mark.slow
def test_job_array_cancel_and_resubmit_on_real_slurm(slurm, tmp_path):
    suite = tmp_path / "slurmtiny.yaml"
    suite.write_text(SUITE.format(epochs=30))  # long enough that cancelling catches runs unfinished
    records = tmp_path / "records"
    first = _cli("run", str(suite), "--records", str(records))
    assert first.returncode == 0, first.stderr
    assert "4 run(s) submitted" in first.stdout
    ledger = json.loads((records / ".slurm" / "jobs.json").read_text())
    array = next(iter(ledger.values()))["job_id"].split("_")[0]
    assert len({j["job_id"] for j in ledger.values()}) == 4

    # While the array runs, a second `run` submits nothing again.
    again = _cli("run", str(suite), "--records", str(records))
    assert again.returncode == 0 and "0 run(s) submitted" in again.stdout, again.stdout + again.stderr

    _wait(records, 1)
    subprocess.run(["scancel", array], check=True)
    deadline = time.time() + 60
    while _queued(array) and time.time() < deadline:
        time.sleep(0.5)
    done_before = {p.name + p.parent.name for p in records.rglob("seed*.json")}
    assert 1 <= len(done_before) < 4, "the array finished before it could be cancelled; make the runs longer"
    status = _cli("status", str(suite), "--records", str(records))
    assert status.returncode == 0 and "lost" in status.stdout, status.stdout + status.stderr

    second = _cli("run", str(suite), "--records", str(records))
    assert second.returncode == 0, second.stderr
    assert f"{4 - len(done_before)} run(s) submitted" in second.stdout
    files = _wait(records, 4)
    deadline = time.time() + 60
    ledger = json.loads((records / ".slurm" / "jobs.json").read_text())
    while any(_queued(j["job_id"]) for j in ledger.values()) and time.time() < deadline:
        time.sleep(0.5)

    assert len(files) == 4 and len({str(p) for p in files}) == 4  # no duplicate, none lost
    recs, problems = load_records(records)
    assert not problems and len(recs) == 4 and all(r.ok for r in recs)
    assert not [p for p in records.rglob("*.tmp")], "a temporary file was left behind"
    logs = list((records / ".slurm" / "logs").rglob("*.out"))
    assert logs, "submitit logs live beside the records"
    status = _cli("status", str(suite), "--records", str(records), "--all")
    assert "4 done (4 runs)" in status.stdout, status.stdout + status.stderr
    board = CliRunner().invoke(cli.app, ["leaderboard", str(records), "--out", str(tmp_path / "board.md")])
    assert board.exit_code == 0, board.output
    assert "### phantom_ct" in (tmp_path / "board.md").read_text()
