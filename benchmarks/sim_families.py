"""A board that grows: what a submitted block does to the published verdicts, under one family and
under the board's policy of a family per submission (``python benchmarks/sim_families.py --reps
20000``; JSON saved under benchmarks/results/, tests/test_families.py checks the newest file).

The reference board's 16 comparisons are simulated as benchmarks/sim_sequential.py does (each
comparison's measured sd of per-split ΔAUC, the share its data set's variants have in common
through the shared baseline run, looks at 5/10/15/20 splits, Holm with linear spending, a data set
stopping when its own comparisons have concluded), with the truth at the board's own 5-split
estimates. A submitted block adds one comparison per data set, paired with the same baseline runs
(so correlated with the board's rows as they are with each other), with the sd of the board's ECA
rows, and a true Δ of 0 (a block that does nothing) or of 1 point.

- ``one family``: the submission joins the board's Holm family (m = 20): how often does it change
  at least one of the 16 published verdicts (better / worse / equivalent / inconclusive), and at
  what rates does it err itself?
- ``own family`` (the board's policy, analysis.families_of): the 16 keep their family (m = 16, the
  published verdicts by construction); the submission is judged by the same sequential Holm rule
  over its own 4 comparisons, at the looks the board takes. Its family-wise false better/worse rate
  (Δ = 0) and false equivalence rate (|Δ| = margin) must stay at or below α.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402
from sim_sequential import DATASETS, LOOKS, Levels, board_regime, look_stats, mc_se, step_down  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def simulate(rng, reps: int, regime: dict, truth16: np.ndarray, truth_sub: float) -> tuple[np.ndarray, np.ndarray]:
    """(reps, 20, 20): per-split ΔAUC (points) of the board's 16 rows (data sets x 4 variants) and
    the submission's 4 (one per data set, appended last), and each comparison's data set."""
    n = LOOKS[-1]
    out = np.empty((reps, 20, n))
    ds_of = np.array([i for i in range(4) for _ in range(4)] + [0, 1, 2, 3])
    for i, ds in enumerate(DATASETS):
        sd = np.asarray(regime[ds]["sd"], dtype=float)
        rho = regime[ds]["rho"]
        shared = rng.standard_normal((reps, 1, n)) * np.sqrt(rho)
        own = rng.standard_normal((reps, 5, n)) * np.sqrt(1 - rho)
        z = shared + own
        out[:, 4 * i:4 * i + 4] = truth16[4 * i:4 * i + 4][None, :, None] + sd[None, :, None] * z[:, :4]
        out[:, 16 + i] = truth_sub + sd[3] * z[:, 4]  # the ECA row's spread
    return out, ds_of


def sequential_holm(d: np.ndarray, ds_of: np.ndarray, members: np.ndarray, lv: Levels, margin: float,
                    active_from: np.ndarray | None = None) -> dict:
    """The board's rule over the comparisons ``members`` (one family): at each look, Holm with
    α-spending for better/worse, then for equivalence, among the open members of data sets still
    active. Data sets stop when their members have concluded, unless ``active_from`` (reps, looks,
    4) says which data sets the board itself keeps going at each look."""
    reps = d.shape[0]
    k = len(members)
    bw = np.zeros((reps, k), dtype=bool)
    eq = np.zeros((reps, k), dtype=bool)
    sign = np.zeros((reps, k))
    ds = ds_of[members]
    active = np.ones((reps, 4), dtype=bool)
    looks_active = np.zeros((reps, len(LOOKS), 4), dtype=bool)
    for t, n in enumerate(LOOKS):
        if active_from is not None:
            active = active_from[:, t]
        looks_active[:, t] = active
        mean, p, p_eq = look_stats(d[:, members], n, margin)
        elig = active[:, ds] & ~bw & ~eq
        before = bw.copy()
        step_down(p, elig, bw, lambda j: lv.two[j, t])
        step_down(p_eq, elig & ~bw, eq, lambda j: lv.one[j, t])
        new = bw & ~before
        sign[new] = np.sign(mean[new])
        if active_from is None:
            done = np.ones((reps, 4), dtype=bool)
            for i in range(4):
                cols = ds == i
                if cols.any():
                    done[:, i] = (bw | eq)[:, cols].all(1)
            active = active & ~done
    verdict = np.where(bw, np.where(sign > 0, 1, -1), np.where(eq, 2, 0))  # 1 better, -1 worse, 2 equivalent
    return {"verdict": verdict, "looks_active": looks_active}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--records", type=Path, default=ROOT / "leaderboard" / "records" / "paper-cpu-full")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--margin", type=float, default=1.0, help="AUC points")
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    regime = board_regime(args.records)
    truth16 = np.concatenate([regime[ds]["mean"] for ds in DATASETS])
    lv16, lv20, lv4 = (Levels(args.alpha, "linear", m) for m in (16, 20, 4))
    rng = np.random.default_rng(args.seed)
    rows = []
    for truth_sub in (0.0, args.margin):
        d, ds_of = simulate(rng, args.reps, regime, truth16, truth_sub)
        paper, sub = np.arange(16), np.arange(16, 20)
        alone = sequential_holm(d, ds_of, paper, lv16, args.margin)
        joint = sequential_holm(d, ds_of, np.arange(20), lv20, args.margin)
        own = sequential_holm(d, ds_of, sub, lv4, args.margin, active_from=alone["looks_active"])
        moved = (joint["verdict"][:, :16] != alone["verdict"]).any(1)
        for policy, sv in (("one family", joint["verdict"][:, 16:]), ("own family", own["verdict"])):
            false_bw = (np.abs(sv) == 1).any(1) if truth_sub == 0 else np.zeros(args.reps, bool)
            false_eq = (sv == 2).any(1) if truth_sub == args.margin else np.zeros(args.reps, bool)
            row = {"truth_submission": truth_sub, "policy": policy,
                   "published_verdict_moved": float(moved.mean()) if policy == "one family" else 0.0,
                   "submission_fwer_better_worse": float(false_bw.mean()),
                   "submission_fwer_equivalence": float(false_eq.mean()),
                   "submission_concluded": float((sv != 0).mean())}
            row["mc_se"] = mc_se(max(row["submission_fwer_better_worse"], row["submission_fwer_equivalence"],
                                     row["published_verdict_moved"], 0.05), args.reps)
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    out = ROOT / "benchmarks" / "results" / f"sim-families-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({**header(False), "reps": args.reps, "alpha": args.alpha, "margin": args.margin,
                               "looks": LOOKS, "regime": regime, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
