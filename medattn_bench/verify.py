"""``medattn-bench verify RECORD...``: re-train the run a record describes, from its own stored
config, on this machine, and set the new test scores beside the stored ones. On the same CPU model
and instruction sets fp32 training is deterministic, so the scores must match bit for bit; on
another CPU model or instruction set the models differ (even two AVX-512 CPUs: a Zen 4 and an AMX
Xeon trained different full-MRI models from one config), and the AUC difference is shown beside
the between-split spread of the same variant (the noise any single run carries anyway)."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RecordError
from .results import RunRecord, arithmetic_of, load_records, read_record


@dataclass
class Verification:
    path: str
    stored_auc: float
    new_auc: float
    max_score_diff: float
    same_isa: bool
    stored_isa: str
    here_isa: str
    split_sd: float  # sd of this variant's AUC over the other split seeds in the record's folder
    stored_arithmetic: int | str = 1  # the training-arithmetic version of the record, and of this code
    here_arithmetic: int | str = 1

    @property
    def identical(self) -> bool:
        return self.max_score_diff == 0.0

    @property
    def same_arithmetic(self) -> bool:
        return self.stored_arithmetic == self.here_arithmetic

    @property
    def ok(self) -> bool:
        """Identical where the arithmetic is the same; any difference is acceptable across ISAs or
        across training-arithmetic versions of the code."""
        return self.identical or not (self.same_isa and self.same_arithmetic)

    def line(self) -> str:
        head = f"{self.path}: stored AUC {100 * self.stored_auc:.2f}, re-trained here {100 * self.new_auc:.2f}"
        if self.identical:
            return head + f": identical scores (bit for bit; {self.here_isa})"
        delta = 100 * (self.new_auc - self.stored_auc)
        spread = (f"; this variant's AUC varies by {100 * self.split_sd:.2f} points (sd) between split seeds"
                  if np.isfinite(self.split_sd) else "")
        if not self.same_arithmetic:
            return (head + f": ΔAUC {delta:+.2f} points (trained under training arithmetic {self.stored_arithmetic}, "
                    f"re-trained under {self.here_arithmetic}: this code sums some weight gradients in another order, "
                    "so a different model is expected, as on another instruction set)" + spread)
        if self.same_isa:
            return (head + f": DIFFERENT scores on the same CPU and instruction sets ({self.here_isa}): ΔAUC {delta:+.2f} points, "
                    f"largest score difference {self.max_score_diff:.3g}; the record does not come from the code and "
                    "config it names, or the machine is not deterministic" + spread)
        if self.stored_isa.endswith("not recorded"):  # before records named their instruction sets
            return (head + f": ΔAUC {delta:+.2f} points (the record does not name its instruction sets; re-trained "
                    f"with {self.here_isa}: on another instruction set different models are expected)" + spread)
        return (head + f": ΔAUC {delta:+.2f} points (recorded on {self.stored_isa}, re-trained on {self.here_isa}: "
                "another CPU model or instruction set computes fp32 differently, so different models are expected)"
                + spread)


def spec_from_record(rec: RunRecord, path: Path):
    """The RunSpec a record's stored config describes, writing nowhere near the record."""
    from .execute import RunSpec
    from .suite import AttentionSpec, CamSpec, DatasetSpec, SplitSpec, TrainSpec, canonical_hash

    c = rec.config
    try:
        train = TrainSpec.model_validate(c["train"])
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


def _split_sd(rec: RunRecord) -> float:
    folder = Path(rec.path).parent
    recs, _ = load_records(folder)
    aucs = [r.metrics.auc for r in recs if r.ok and r.run.init_seed == rec.run.init_seed]
    return statistics.stdev(aucs) if len(aucs) > 2 else float("nan")


def verify_record(path: Path, data_root: str | None = None) -> Verification:
    from .engine.device import instruction_sets, isa_label
    from .execute import execute_run

    rec = read_record(path) if isinstance(path, Path) else path
    if not rec.ok:
        raise RecordError(f"{path}: a failed run has no scores to verify")
    from .trust import record_problems

    problems = record_problems(rec)
    if problems:
        raise RecordError(f"{path}: not verified: {'; '.join(problems)}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec_from_record(rec, Path(tmp) / "verify.json")
        new = execute_run(spec, data_root)
    if not new.ok:
        raise RecordError(f"{path}: the re-trained run failed here: {new.failure}")
    if new.test.ids != rec.test.ids:
        raise RecordError(f"{path}: re-training here tested other cases (the data differ: content hash "
                          f"{new.data.get('content_hash')} here, {rec.data.get('content_hash')} in the record)")
    # the same arithmetic needs the same CPU model as well as the same instruction sets: the full-MRI
    # split-0 models re-trained on an AMX Xeon with AVX-512 kernels differed from a Zen 4's
    from .engine.device import cpu_name

    stored_isa = f"{rec.env.get('machine', {}).get('cpu')}: {isa_label(rec.env.get('machine', {}).get('isa'))}"
    here_isa = f"{cpu_name()}: {isa_label(instruction_sets())}"
    diff = float(np.max(np.abs(np.asarray(new.test.scores) - np.asarray(rec.test.scores))))
    return Verification(str(path), rec.metrics.auc, new.metrics.auc, diff,
                        stored_isa == here_isa and not stored_isa.endswith("not recorded"), stored_isa, here_isa,
                        _split_sd(rec), arithmetic_of(rec), arithmetic_of(new))
