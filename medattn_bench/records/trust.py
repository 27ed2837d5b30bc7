"""Records are untrusted input: they arrive from other machines and other people. ``vet`` checks
every record against its own contents (the AUC and calibration recomputed from the stored labels
and scores, lengths, ranges, the config hashes, the run fields against the config) and against
where it was found (its path and its folder's suite.json), and sets aside two records that claim
the same run. Whatever reads records for a verdict (leaderboard, compare, status, run) goes
through here and names what it cannot use."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .schema import SUITE_FILE, RunRecord, protocol_part
from .store import record_path

TOL = 1e-9  # stored metrics are computed by the same code from the same numbers: equal to rounding


@dataclass(frozen=True)
class Unused:
    """A record file that no verdict uses, and why."""

    path: str
    reason: str

    def line(self) -> str:
        return f"{self.path}: not used: {self.reason}"


def auc_of(labels: list[int], scores: np.ndarray) -> float:
    """Mann-Whitney AUC with mid-ranks for ties (numpy only: planning a suite stays free of scipy)."""
    y = np.asarray(labels) == 1
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inv]
    m, n = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - m * (m + 1) / 2) / (m * n))


def _test_problems(rec: RunRecord) -> list[str]:
    from ..metrics import calibration

    t, m = rec.test, rec.metrics
    if t is None or m is None:
        return ["status ok but no test scores or metrics"]
    n = len(t.labels)
    if not (len(t.ids) == n == len(t.scores)):
        return [f"test ids ({len(t.ids)}), labels ({n}) and scores ({len(t.scores)}) differ in length"]
    if len(set(t.ids)) != n:
        return [f"test ids repeat ({n - len(set(t.ids))} duplicate(s))"]
    bad_labels = sorted({y for y in t.labels if y not in (0, 1)})
    if bad_labels:
        return [f"test labels must be 0/1, found {bad_labels[:5]}"]
    s = np.asarray(t.scores, dtype=float)
    if not np.isfinite(s).all():
        return [f"{int((~np.isfinite(s)).sum())} test score(s) are NaN or inf"]
    if (s < 0).any() or (s > 1).any():
        return [f"test scores must be probabilities in [0, 1], found range {s.min():.3g}..{s.max():.3g}"]
    want = (rec.data or {}).get("test_ids_hash") if isinstance(rec.data, dict) else None
    if want is not None:
        from ..jsonio import canonical_hash

        if canonical_hash(list(t.ids)) != want:
            return ["its test ids are not the ones its data.test_ids_hash names (the ids were changed after the run)"]
    n_pos = sum(t.labels)
    if n_pos in (0, n):
        return [f"test set holds one class only ({n} case(s)); AUC is undefined"]
    out = []
    if m.n_test != n or m.n_pos != n_pos:
        out.append(f"metrics say {m.n_test} test cases, {m.n_pos} positive; the stored labels hold {n}, {n_pos}")
    if not (math.isfinite(m.auc) and 0 <= m.auc <= 1):
        out.append(f"metrics.auc {m.auc!r} is not an AUC in [0, 1]")
    else:
        auc = auc_of(t.labels, s)
        if abs(auc - m.auc) > TOL:
            out.append(f"metrics.auc {m.auc:.6f} differs from the AUC of its own labels and scores ({auc:.6f})")
    ci = m.auc_ci_delong or {}
    if "auc" in ci and not (isinstance(ci["auc"], (int, float)) and abs(float(ci["auc"]) - m.auc) <= TOL):
        out.append(f"metrics.auc_ci_delong.auc {ci['auc']!r} differs from metrics.auc {m.auc!r}")
    for key in ("lo", "hi"):
        if key in ci and not (isinstance(ci[key], (int, float)) and 0 <= float(ci[key]) <= 1):
            out.append(f"metrics.auc_ci_delong.{key} {ci[key]!r} is not in [0, 1]")
    if m.ece is not None or m.brier is not None:
        cal = calibration(t.labels, s)
        for key in ("ece", "brier"):
            stored = getattr(m, key)
            if stored is not None and not (math.isfinite(stored) and abs(stored - cal[key]) <= TOL):
                out.append(f"metrics.{key} {stored!r} differs from its own scores ({cal[key]:.6f})")
    return out


def _config_problems(rec: RunRecord) -> list[str]:
    from ..jsonio import canonical_hash

    c = rec.config
    out = []
    if canonical_hash(c) != rec.config_hash:
        out.append(f"config_hash {rec.config_hash} is not the hash of its config ({canonical_hash(c)})")
    if canonical_hash(protocol_part(c)) != rec.protocol_hash:
        out.append("protocol_hash is not the hash of its config's protocol part")
    att = c.get("attention") if isinstance(c.get("attention"), dict) else {}
    ds = c.get("dataset") if isinstance(c.get("dataset"), dict) else {}
    want = {"dataset": ds.get("name"), "attention": att.get("name"), "variant": att.get("label") or att.get("name"),
            "seed": c.get("seed"), "init_seed": c.get("init_seed", 0), "hparams": att.get("hparams", {})}
    for key, value in want.items():
        got = getattr(rec.run, key)
        if got != value:
            out.append(f"run.{key} {got!r} disagrees with its config ({value!r})")
    return out


def _place_problems(rec: RunRecord, suite_names: dict[Path, str | None]) -> list[str]:
    """The record's file must sit where ``run`` writes it: <suite folder>/<data set>/<variant>/seedS[-initI].json,
    and that suite folder's suite.json (where there is one) must name the record's suite."""
    if rec.path is None:
        return []
    path = Path(rec.path)
    rel = record_path(Path("."), rec.run.dataset, rec.run.variant, rec.run.seed, rec.run.init_seed)
    if tuple(path.parts[-3:]) != rel.parts[-3:]:
        return [f"its path does not match its content (a record of this run belongs at .../{rel.as_posix()})"]
    folder = path.parents[2]
    if folder not in suite_names:
        info = folder / SUITE_FILE
        try:
            suite_names[folder] = json.loads(info.read_text()).get("name") if info.is_file() else None
        except (OSError, ValueError, AttributeError, RecursionError):
            suite_names[folder] = None
    named = suite_names[folder]
    if not isinstance(named, str):  # a damaged suite.json says nothing about the records beside it
        named = suite_names[folder] = None
    if named is not None and named != rec.suite:
        return [f"it says suite {rec.suite!r} but sits in the folder of suite {named!r} ({folder / SUITE_FILE})"]
    return []


def record_problems(rec: RunRecord, suite_names: dict[Path, str | None] | None = None) -> list[str]:
    """Everything wrong with one record, judged by its own contents and its place; [] if none."""
    out = _config_problems(rec) + _place_problems(rec, {} if suite_names is None else suite_names)
    if rec.status == "ok":
        out += _test_problems(rec)
    elif rec.metrics is not None or rec.test is not None:
        out.append(f"status {rec.status!r} but it carries metrics or test scores")
    return out


def run_key(rec: RunRecord) -> tuple:
    return rec.suite, rec.run.dataset, rec.run.variant, rec.run.seed, rec.run.init_seed


def vet(records: list[RunRecord]) -> tuple[list[RunRecord], list[Unused], int]:
    """The records a verdict may use, those it may not (with the reason), and how many of the
    latter are duplicates (two or more files claiming the same run: none of them is used)."""
    suite_names: dict[Path, str | None] = {}
    good, unused = [], []
    for rec in records:
        problems = record_problems(rec, suite_names)
        if problems:
            unused.append(Unused(rec.path or "?", "; ".join(problems)))
        else:
            good.append(rec)
    claims: dict[tuple, list[RunRecord]] = defaultdict(list)
    for rec in good:
        claims[run_key(rec)].append(rec)
    dup = 0
    usable = []
    for rec in good:
        same = claims[run_key(rec)]
        if len(same) == 1:
            usable.append(rec)
            continue
        dup += 1
        others = ", ".join(r.path or "?" for r in same if r is not rec)
        suite, ds, v, seed, init = run_key(rec)
        unused.append(Unused(rec.path or "?", f"claims the same run ({suite}, {ds}, {v}, split seed {seed}, init "
                                              f"{init}) as {others}; neither is used until one is removed"))
    return usable, sorted(unused, key=lambda u: u.path), dup
