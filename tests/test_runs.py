"""Runs end to end on tiny phantoms: determinism, failure recording, resume, kill -9."""

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from medattn_bench.attention import ATTENTION, register_attention
from medattn_bench.records import load_records, protocol_part, read_record, write_json_atomic
from medattn_bench.runner import plan, run_suite
from medattn_bench.suite import canonical_hash, load_suite

TINY = """\
name: tiny
datasets:
  - {{name: phantom_mri, options: {{n_per_class: 16, size: 16}}}}
attention: [{{name: none}}, {attn}]
seeds: [0, 1]
train: {{epochs: {epochs}, batch_size: 8, image_size: 16, lr: 0.01{pins}}}
eval: {{stats: {{n_resamples: 200}}, cost: {{throughput: false}}}}
"""


def _suite(tmp_path: Path, attn: str = "{name: se}", epochs: int = 2, pinned: bool = False) -> Path:
    """``pinned``: one thread, fp32, NCHW, so runs made in two processes (each probing the memory
    format by timing, which a busy machine can tip) compute with the same arithmetic."""
    p = tmp_path / "tiny.yaml"
    pins = ", threads: 1, precision: fp32, channels_last: false" if pinned else ""
    p.write_text(TINY.format(attn=attn, epochs=epochs, pins=pins))
    return p


def _run(path: Path, records: Path) -> dict:
    s = load_suite(path)
    return run_suite(s, str(path), plan(s, records_dir=records), records_dir=records, log=lambda m: None)


def _scores(records: Path) -> dict:
    recs, problems = load_records(records)
    assert not problems
    return {(r.run.variant, r.run.seed): r.test.scores for r in recs}


@pytest.mark.slow
def test_same_run_twice_gives_identical_scores_and_same_test_cases_across_variants(tmp_path):
    path = _suite(tmp_path)
    _run(path, tmp_path / "a")
    _run(path, tmp_path / "b")
    a, b = _scores(tmp_path / "a"), _scores(tmp_path / "b")
    assert a == b and len(a) == 4
    recs, _ = load_records(tmp_path / "a")
    ids = {(r.run.variant, r.run.seed): r.test.ids for r in recs}
    assert ids[("none", 0)] == ids[("se", 0)]  # same seed -> same test cases for every variant
    assert ids[("none", 0)] != ids[("none", 1)]
    rec = recs[0]
    assert rec.config and rec.config_hash and rec.attention_block and rec.time.wall_s > 0 and rec.time.cpu_s > 0
    assert rec.env["package_version"] and rec.env["machine"]["torch"] == torch.__version__
    assert rec.cost["static"]["params"] > 11e6 and rec.cost["static"]["macs"] > 0
    assert 0 <= rec.metrics.auc <= 1 and len(rec.test.scores) == rec.metrics.n_test
    assert 0 <= rec.metrics.ece <= 1 and 0 <= rec.metrics.brier <= 1
    assert len(rec.data["content_hash"]) == 16
    # records get the normal file mode, not mkstemp's 0600
    assert oct(Path(rec.path).stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def nan_block():
    @register_attention("test_nan_gate", paper="test only")
    def factory(channels: int) -> nn.Module:
        class Nan(nn.Module):
            def forward(self, x):
                return x * float("nan")

        return Nan()

    yield "test_nan_gate"
    ATTENTION.unregister("test_nan_gate")


def test_diverging_run_is_recorded_as_failed_and_the_suite_goes_on(tmp_path, nan_block):
    path = _suite(tmp_path, attn="{name: test_nan_gate}", epochs=2)
    counts = _run(path, tmp_path / "rec")
    assert counts == {"skipped": 0, "ok": 2, "failed": 2, "left_alone": 0}
    recs, _ = load_records(tmp_path / "rec")
    failed = [r for r in recs if r.status == "failed"]
    assert len(failed) == 2 and all("loss became nan in epoch 1" in r.failure for r in failed)
    # A rerun does not retry a recorded failure unless asked to.
    assert _run(path, tmp_path / "rec")["skipped"] == 4


def test_resume_skips_done_and_reruns_stale(tmp_path):
    path = _suite(tmp_path)
    rec = tmp_path / "rec"
    assert _run(path, rec)["ok"] == 4
    assert _run(path, rec) == {"skipped": 4, "ok": 0, "failed": 0, "left_alone": 0}
    target = rec / "phantom_mri" / "se" / "seed1.json"
    data = json.loads(target.read_text())
    data["config"]["train"]["epochs"] = 99  # as if produced by another protocol, hashes consistent
    data["config_hash"] = canonical_hash(data["config"])
    data["protocol_hash"] = canonical_hash(protocol_part(data["config"]))
    target.write_text(json.dumps(data))
    before = target.read_bytes()
    assert [r.status for r in plan(load_suite(path), records_dir=rec)].count("stale") == 1
    # finished work is never replaced unasked: the stale record stays byte for byte
    assert _run(path, rec) == {"skipped": 3, "ok": 0, "failed": 0, "left_alone": 1}
    assert target.read_bytes() == before
    s = load_suite(path)
    counts = run_suite(s, str(path), plan(s, records_dir=rec), records_dir=rec, log=lambda m: None, rerun_stale=True)
    assert counts["ok"] == 1 and json.loads(target.read_text())["config"]["train"]["epochs"] != 99


@pytest.mark.slow
def test_damaged_record_is_set_aside_and_redone(tmp_path):
    path = _suite(tmp_path)
    rec = tmp_path / "rec"
    _run(path, rec)
    target = rec / "phantom_mri" / "se" / "seed1.json"
    data = json.loads(target.read_text())
    data["metrics"]["auc"] = 0.999  # forged: not the AUC of its own scores
    target.write_text(json.dumps(data))
    assert [r.status for r in plan(load_suite(path), records_dir=rec)].count("damaged") == 1
    assert _run(path, rec)["ok"] == 1
    assert json.loads(target.with_name("seed1.json.damaged").read_text())["metrics"]["auc"] == 0.999
    assert read_record(target).metrics.auc != 0.999


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    write_json_atomic(target, {"a": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": Boom()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.slow
def test_kill_minus_nine_then_rerun_matches_uninterrupted(tmp_path):
    path = _suite(tmp_path, epochs=4, pinned=True)
    _run(path, tmp_path / "clean")
    rec = tmp_path / "killed"
    cmd = [sys.executable, "-m", "medattn_bench.cli", "run", str(path), "--records", str(rec), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(rec.rglob("seed*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = list(rec.rglob("seed*.json"))
    assert 1 <= len(done) < 4, "the run finished before it could be killed; make it longer"
    for p in done:
        json.loads(p.read_text())  # every record present is complete
    _run(path, rec)
    assert _scores(rec) == _scores(tmp_path / "clean")
    leftovers = [p for p in rec.rglob("*") if p.is_file() and not p.name.startswith("seed")
                 and p.name not in ("suite.json", ".lock")]  # .lock: the folder's writer lock, released at death
    assert not leftovers, "leftover temp files"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_pool_workers_die_with_a_killed_parent(tmp_path):
    path = _suite(tmp_path, epochs=40)
    rec = tmp_path / "rec"
    cmd = [sys.executable, "-m", "medattn_bench.cli", "run", str(path), "--records", str(rec), "--no-progress",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        workers: list[int] = []
        deadline = time.time() + 120
        while time.time() < deadline and len(workers) < 2:
            workers = [c for c in _children(proc.pid)
                       if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
            time.sleep(0.1)
        assert len(workers) == 2, "the pool never started"
        os.kill(proc.pid, signal.SIGKILL)  # the parent alone, not its process group
        proc.wait()
        deadline = time.time() + 30
        while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.1)
        alive = [w for w in workers if Path(f"/proc/{w}").exists()]
        assert not alive, f"workers {alive} outlived their parent"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
def test_process_pool_gives_the_same_records_as_serial(tmp_path):
    """--workers runs several runs at once; with the same arithmetic per run (thread count,
    precision and memory format pinned: 'auto' is decided by a timed probe, which two workers
    probing at once may decide otherwise than one run alone) the scores match."""
    threads_before = torch.get_num_threads()
    path = _suite(tmp_path)
    s = load_suite(path)
    s.train.threads, s.train.precision, s.train.channels_last = 1, "fp32", False
    run_suite(s, str(path), plan(s, records_dir=tmp_path / "pool"), records_dir=tmp_path / "pool", workers=2,
              log=lambda m: None)
    run_suite(s, str(path), plan(s, records_dir=tmp_path / "serial"), records_dir=tmp_path / "serial",
              log=lambda m: None)
    recs, _ = load_records(tmp_path / "pool")
    serial, _ = load_records(tmp_path / "serial")
    torch.set_num_threads(threads_before)  # the serial run set the process-wide thread count
    assert {r.env["device"]["threads"] for r in recs} == {1}
    settings = {(r.env["device"]["dtype"], r.env["device"]["channels_last"]) for r in recs + serial}
    assert _scores(tmp_path / "pool") == _scores(tmp_path / "serial"), settings


def test_device_slots_fill_gpus_in_turn():
    from medattn_bench.executors.local import device_slots

    assert device_slots(2, 3) == ["0", "1", "0", "1", "0", "1"]
    assert device_slots(1, 4) == ["0"] * 4


def test_runs_per_device_without_cuda_says_it_does_not_apply(tmp_path, monkeypatch):
    from medattn_bench import runner

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    said = []
    assert runner._gpu_slots(load_suite(_suite(tmp_path)), 4, said.append) == ()
    assert "no CUDA device here" in said[0]


@pytest.mark.slow
def test_runs_per_device_pins_each_worker_to_its_slot(tmp_path, monkeypatch):
    """What the GPU check measures, with the GPU left out: each pool worker is pinned to one slot
    (CUDA_VISIBLE_DEVICES) before CUDA initialises, and the records say which."""
    from medattn_bench import runner

    monkeypatch.setattr(runner, "_gpu_slots", lambda suite, n, log: ("5", "6"))
    path = _suite(tmp_path)
    s = load_suite(path)
    s.train.threads = 1
    counts = run_suite(s, str(path), plan(s, records_dir=tmp_path / "r"), records_dir=tmp_path / "r",
                       log=lambda m: None, runs_per_device=2)
    assert counts["ok"] == 4
    recs, _ = load_records(tmp_path / "r")
    assert {r.env["machine"]["cuda_visible_devices"] for r in recs} == {"5", "6"}


def test_run_ends_with_where_its_runs_landed(tmp_path, capsys):
    """An author sees the outcome without rendering the board: per data set the variants trained,
    ΔAUC with its CI and the verdict, as the board's rule judges them."""
    from tests.test_cli import run_main

    path = _suite(tmp_path)
    code, out = run_main(capsys, "run", str(path), "--records", str(tmp_path / "rec"), "--only", "seed=0",
                         "--no-progress")
    assert code == 0, out
    line = next(x for x in out.splitlines() if x.startswith("phantom_mri") and " se " in x)
    assert line.endswith("in progress: 1 of 2 planned split seeds recorded"), line  # the suite plans seeds 0, 1
    code, out = run_main(capsys, "run", str(path), "--records", str(tmp_path / "rec"), "--no-progress")
    assert code == 0, out
    assert "Where the runs landed (against none" in out
    line = next(x for x in out.splitlines() if x.startswith("phantom_mri") and " se " in x)
    assert re.search(r"phantom_mri\s+se\s+2\s+[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]\s+(better|worse|equivalent|inconclusive)",
                     line), line
    code, out = run_main(capsys, "run", str(path), "--records", str(tmp_path / "rec"), "--no-progress")
    assert code == 0 and "Where the runs landed" not in out  # nothing trained, nothing to tell


def test_cost_is_measured_after_the_runs_and_never_replaces_a_row(tmp_path, capsys):
    """The first training step waits for no timing: parameters and MACs are counted in the run
    after training, throughput once every run is done, into suite.json; a later run of a new
    variant adds its row beside the baseline and leaves the existing rows as they were."""
    from tests.test_cli import run_main

    from medattn_bench.records import load_suite_infos

    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(attn="{name: se}", epochs=2, pins="").replace("cost: {throughput: false}",
                                                                     "cost: {throughput: true, repeats: 1, warmup: 0}"))
    rec = tmp_path / "rec"
    code, out = run_main(capsys, "run", str(path), "--records", str(rec), "--no-progress", "--only", "seed=0")
    assert code == 0, out
    assert "throughput is measured after the runs" in out and "measured after the runs in" in out
    first = out.index("the first starts")
    assert out.index("measured after the runs in") > first  # measured after training, not before
    for p in rec.rglob("seed*.json"):
        cost = json.loads(p.read_text())["cost"]
        assert cost["static"]["params"] > 0 and cost["static_224"]["macs"] > 0 and "throughput" not in cost
    costs = load_suite_infos(rec)[0]["tiny"].costs
    assert set(costs) == {"none", "se"} and costs["se"]["throughput"]["baseline"] == "none"
    before = json.dumps(costs, sort_keys=True)
    code, out = run_main(capsys, "run", str(path), "--records", str(rec), "--no-progress", "--only", "seed=0",
                         "--set", "attention+=[{name: gc}]")
    assert code == 0, out
    costs = load_suite_infos(rec)[0]["tiny"].costs
    assert set(costs) == {"none", "se", "gc"} and costs["gc"]["throughput"]["baseline"] == "none"
    assert json.dumps({k: costs[k] for k in ("none", "se")}, sort_keys=True) == before
