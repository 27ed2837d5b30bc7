"""``medattn-bench verify RECORD...``: re-train the run a record describes, from its own stored
config and with the arithmetic settings it names, on this machine, and decide.

The rule (docs/records.md):

- **identical**: the new test scores equal the stored ones bit for bit.
- **not reproduced**: the scores differ although every setting that shapes the arithmetic is the
  same here (CPU model, instruction sets and their caps, precision, memory format, threads, device,
  torch, training arithmetic): fp32 training is deterministic there, so the record does not come
  from the code and config it names. Exit 1.
- otherwise some setting differs (the record's CPU is not this one, or it names a setting this
  machine cannot reproduce), and the ΔAUC is judged against the spread of the same variant's AUC
  over the other runs of its folder (other split seeds and initialisations): **consistent** when
  |ΔAUC| <= ``K_SD`` sd, **not consistent** (exit 1) beyond it, **undecided** (exit 1) when the
  folder holds fewer than two other runs to measure the spread on. What a record claims about its
  machine can move it from the first test to the second, never past the bound.

Re-training re-applies the record's precision, memory format and thread count instead of
re-deciding them (an ``auto`` probe or the shell's thread count could pick others), and where the
record was trained under instruction-set caps other than this shell's, it re-trains in a child
process with the record's caps."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import RecordError
from .records import RunRecord, arithmetic_of, isa_label, load_records, read_record

K_SD = 3.0  # the bound, in sd of the variant's AUC over the folder's other runs
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def arithmetic_settings(rec: RunRecord) -> dict[str, object]:
    """What shaped a record's arithmetic, as the record names it (None: not recorded)."""
    env = rec.env if isinstance(rec.env, dict) else {}
    dev = env.get("device") if isinstance(env.get("device"), dict) else {}
    mach = env.get("machine") if isinstance(env.get("machine"), dict) else {}
    isa = mach.get("isa") if isinstance(mach.get("isa"), dict) else {}
    caps = isa.get("caps") if isinstance(isa.get("caps"), dict) else {}
    return {"device": dev.get("device"), "CPU": mach.get("cpu"),
            "instruction sets": isa_label(isa) if isa else None,
            "instruction-set caps": ", ".join(f"{k}={v}" for k, v in sorted(caps.items())) or "none",
            "precision": dev.get("dtype"), "channels_last": dev.get("channels_last"), "threads": dev.get("threads"),
            "torch": dev.get("torch_version") or mach.get("torch"), "training arithmetic": arithmetic_of(rec)}


@dataclass
class Verification:
    path: str
    stored_auc: float
    new_auc: float
    max_score_diff: float
    differences: list[str]  # the settings that differ between the record and the re-training
    spread_sd: float  # sd of this variant's AUC over the folder's other runs (nan: fewer than 2)
    n_spread: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.max_score_diff == 0.0

    @property
    def delta(self) -> float:  # AUC points
        return 100 * (self.new_auc - self.stored_auc)

    @property
    def verdict(self) -> str:
        """identical / not reproduced / consistent / not consistent / undecided (module docstring)."""
        if self.identical:
            return "identical"
        if not self.differences:
            return "not reproduced"
        if not np.isfinite(self.spread_sd):
            return "undecided"
        return "consistent" if abs(self.delta) <= K_SD * 100 * self.spread_sd else "not consistent"

    @property
    def ok(self) -> bool:
        return self.verdict in ("identical", "consistent")

    def line(self) -> str:
        head = f"{self.path}: stored AUC {100 * self.stored_auc:.2f}, re-trained here {100 * self.new_auc:.2f}"
        notes = "".join(f"; {n}" for n in self.notes)
        v = self.verdict
        if v == "identical":
            return head + f": identical (scores equal bit for bit){notes}"
        if v == "not reproduced":
            return (head + f": NOT REPRODUCED: ΔAUC {self.delta:+.2f} points, largest score difference "
                    f"{self.max_score_diff:.3g}, with every setting that shapes the arithmetic the same as the "
                    f"record's; the record does not come from the code and config it names{notes}")
        diff = "; ".join(self.differences)
        if v == "undecided":
            return (head + f": UNDECIDED: ΔAUC {self.delta:+.2f} points under other settings ({diff}), and its "
                    f"folder holds {self.n_spread} other run(s) of this variant, too few to measure the spread the "
                    f"difference is judged against (at least 2){notes}")
        bound = K_SD * 100 * self.spread_sd
        word = "consistent" if v == "consistent" else "NOT CONSISTENT"
        return (head + f": {word}: ΔAUC {self.delta:+.2f} points under other settings ({diff}); the bound is "
                f"{K_SD:g} sd of this variant's AUC over {self.n_spread} other runs = {bound:.2f} points{notes}")


def spec_from_record(rec: RunRecord, path: Path):
    """The RunSpec a record's stored config describes, with the record's own precision, memory
    format, threads and device where it names them, writing nowhere near the record."""
    from .execute import RunSpec
    from .jsonio import canonical_hash
    from .settings import AttentionSpec, CamSpec, DatasetSpec, SplitSpec, TrainSpec

    c = rec.config
    s = arithmetic_settings(rec)
    try:
        train = TrainSpec.model_validate(c["train"])
        pinned = {k: v for k, v in (("precision", s["precision"]), ("channels_last", s["channels_last"]),
                                    ("threads", s["threads"]), ("device", s["device"])) if v is not None}
        train = TrainSpec.model_validate({**train.model_dump(), **pinned})
        spec = RunSpec(suite=rec.suite, dataset=DatasetSpec.model_validate(c["dataset"]),
                       attention=AttentionSpec.model_validate(c["attention"]), seed=c["seed"],
                       init_seed=c.get("init_seed", 0), train=train, split=SplitSpec.model_validate(c["split"]),
                       cam=CamSpec(localisation=False), epochs=train.epochs, config=c, config_hash=canonical_hash(c),
                       path=str(path), cost=rec.cost or None)
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{rec.path}: its config does not describe a run ({str(exc).splitlines()[0]})") from None
    if spec.config_hash != rec.config_hash:
        raise RecordError(f"{rec.path}: config_hash is not the hash of its config; nothing to verify against")
    return spec


def _spread(rec: RunRecord, path: Path) -> tuple[float, int]:
    """sd of the variant's AUC over the other ok runs of the record's folder (same protocol)."""
    recs, _ = load_records(Path(path).parent)
    me = (rec.run.seed, rec.run.init_seed)
    aucs = [r.metrics.auc for r in recs if r.ok and r.metrics is not None and r.protocol_hash == rec.protocol_hash
            and (r.run.seed, r.run.init_seed) != me]
    return (statistics.stdev(aucs) if len(aucs) >= 2 else float("nan")), len(aucs)


def _recorded_caps(rec: RunRecord) -> dict[str, str] | None:
    mach = rec.env.get("machine") if isinstance(rec.env.get("machine"), dict) else {}
    isa = mach.get("isa") if isinstance(mach.get("isa"), dict) else {}
    caps = isa.get("caps")
    return {k: str(v) for k, v in caps.items() if k in ISA_CAPS} if isinstance(caps, dict) else None


def _retrain_here(spec, data_root: str | None) -> RunRecord:
    import torch

    from .execute import execute_run

    threads = torch.get_num_threads()
    try:
        return execute_run(spec, data_root)
    finally:
        torch.set_num_threads(threads)  # verify re-applied the record's; the caller keeps its own


def _retrain_in_child(spec, data_root: str | None, caps: dict[str, str], plugins: tuple[str, ...]) -> RunRecord:
    """Re-train in a fresh process whose instruction-set caps are the record's (they are read when
    torch starts, so this process cannot take them on)."""
    env = {k: v for k, v in os.environ.items() if k not in ISA_CAPS}
    env.update(caps)
    if spec.train.threads:
        env["OMP_NUM_THREADS"] = str(spec.train.threads)
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "spec.json", Path(tmp) / "record.json"
        job.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "data_root": data_root,
                                   "plugins": list(plugins), "out": str(out)}))
        res = subprocess.run([sys.executable, "-m", "medattn_bench.verify", str(job)], env=env,
                             capture_output=True, text=True)
        if res.returncode != 0 or not out.is_file():
            last = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RecordError(f"{spec.path}: re-training under the record's caps ({caps}) failed: {last}")
        return RunRecord.model_validate_json(out.read_text())


def _child(job_file: str) -> None:
    from .execute import RunSpec, execute_run
    from .plugins import load_plugins

    job = json.loads(Path(job_file).read_text())
    load_plugins(job["plugins"])
    rec = execute_run(RunSpec.model_validate(job["spec"]), job["data_root"])
    Path(job["out"]).write_text(rec.model_dump_json())


def verify_record(path: Path | RunRecord, data_root: str | None = None,
                  plugins: tuple[str, ...] = ()) -> Verification:
    if isinstance(path, Path):
        try:
            rec = read_record(path)
        except ValueError as exc:
            raise RecordError(f"{path}: not verified: {exc}") from None
    else:
        rec = path
        path = Path(rec.path or "(record)")  # named by its file in every line below
    if not rec.ok:
        raise RecordError(f"{path}: a failed run has no scores to verify")
    from .records.trust import record_problems

    problems = record_problems(rec)
    if problems:
        raise RecordError(f"{path}: not verified: {'; '.join(problems)}")
    caps = _recorded_caps(rec)
    here_caps = {k: os.environ[k] for k in ISA_CAPS if k in os.environ}
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec_from_record(rec, Path(tmp) / "verify.json")
        if caps is not None and caps != here_caps:
            new = _retrain_in_child(spec, data_root, caps, plugins)
            notes.append(f"re-trained in a child process under the record's caps ({', '.join(caps) or 'none'})")
        else:
            new = _retrain_here(spec, data_root)
    if not new.ok:
        raise RecordError(f"{path}: the re-trained run failed here: {new.failure}")
    if new.test.ids != rec.test.ids:
        raise RecordError(f"{path}: re-training here tested other cases (the data differ: content hash "
                          f"{new.data.get('content_hash')} here, {rec.data.get('content_hash')} in the record)")
    stored, here = arithmetic_settings(rec), arithmetic_settings(new)
    differences = [f"{k} {here[k]} here, {'not recorded' if stored[k] is None else stored[k]} in the record"
                   for k in stored if stored[k] != here[k] or stored[k] is None]
    diff = float(np.max(np.abs(np.asarray(new.test.scores) - np.asarray(rec.test.scores))))
    sd, n = _spread(rec, Path(rec.path or path))
    return Verification(str(path), rec.metrics.auc, new.metrics.auc, diff, differences, sd, n, notes)


if __name__ == "__main__":  # the child of _retrain_in_child
    _child(sys.argv[1])
