"""How often the board mislabels a true published claim (``python benchmarks/sim_claims.py --reps
20000``; JSON saved under benchmarks/results/, and tests/test_claims.py checks the newest file).

The truth: every one of the study's 12 claims is exactly right (the true ΔAUC of SE, CBAM and GC
on each data set is the paper's reported Δ; ECA, which the paper did not test, 0). The board's
per-split ΔAUC are simulated in the reference board's regimes as benchmarks/sim_sequential.py
does (each comparison's measured sd, the share its data set's variants have in common), run
through the board's procedure (fixed: Holm at 5 splits; sequential: Holm with linear spending,
looks at 5/10/15/20, a data set stopping when its comparisons have concluded), and each claim
labelled at the look whose verdict it carries:

- ``claims`` (medattn_bench/claims.py): the claims interval at 1 - α/12, or the repeated interval
  of that look when α/12 is spent over the looks; a board "mislabels" when any true claim reads
  *not reproduced* or *contradicted*.
- ``unadjusted``: the rule the board used before: a 95 % CI that excludes the reported Δ called
  the claim "not reproduced" (the comparison not significant), without multiplicity control.

Reported per design and rule: the share of boards with at least one mislabelled true claim, and the
mean count of claims labelled *reproduced* (the power side: the paper's direction shown).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header  # noqa: E402
from sim_sequential import DATASETS, LOOKS, VARIANTS, Levels, board_regime, look_stats, mc_se, simulate_deltas, step_down  # noqa: E402,E501

from medattn_bench.claims import RANK, claim_label, label_level, sequential_label_level  # noqa: E402
from medattn_bench.suite import load_suite  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def paper_deltas() -> np.ndarray:
    """The paper's ΔAUC (points) in DATASETS x VARIANTS order; NaN where it made no claim (ECA)."""
    ref = load_suite(ROOT / "suites" / "paper-cpu-full.yaml").paper_reference
    return np.array([ref[ds][v] - ref[ds]["none"] if v in ref[ds] else np.nan for ds in DATASETS for v in VARIANTS])


def procedure_looks(d: np.ndarray, lv: Levels, margin: float, sequential: bool) -> np.ndarray:
    """The index of the look whose verdict each comparison carries, (reps, 16), under the board's
    rule (sim_sequential.run_procedure's ``holm_linear``; ``fixed5``: look 0 for all)."""
    reps = d.shape[0]
    look = np.zeros((reps, 16), dtype=int)
    if not sequential:
        return look
    bw = np.zeros((reps, 16), dtype=bool)
    eq = np.zeros((reps, 16), dtype=bool)
    active = np.ones((reps, 4), dtype=bool)
    for k, n in enumerate(LOOKS):
        _, p, p_eq = look_stats(d, n, margin)
        live = np.repeat(active, 4, axis=1) & ~bw & ~eq
        look[live] = k
        step_down(p, live, bw, lambda j: lv.two[j, k])
        step_down(p_eq, live & ~bw, eq, lambda j: lv.one[j, k])
        active &= ~(bw | eq).reshape(reps, 4, 4).all(2)
    return look


def labels(d: np.ndarray, look: np.ndarray, truth: np.ndarray, alpha: float, margin: float,
           rule: str, sequential: bool) -> np.ndarray:
    """(reps, 12) label ranks of the claims (RANK), rule ``claims`` or ``unadjusted``."""
    claims = np.flatnonzero(np.isfinite(truth))
    m = len(claims)
    reps = d.shape[0]
    out = np.empty((reps, m), dtype=int)
    for j, c in enumerate(claims):
        for k, n in enumerate(LOOKS):
            rows = np.flatnonzero(look[:, c] == k)
            if not len(rows):
                continue
            x = d[rows, c, :n]
            mean, se = x.mean(-1), x.std(-1, ddof=1) / np.sqrt(n)
            if rule == "claims":
                level = sequential_label_level(alpha, m, LOOKS, "linear", k) if sequential else label_level(alpha, m)
                t = sps.t.ppf(0.5 + level / 2, n - 1)
                for i, r in enumerate(rows):
                    out[r, j] = RANK[claim_label(round(float(truth[c]), 6), mean[i] - t * se[i], mean[i] + t * se[i],
                                                 level, margin).label]
            else:  # the old rule's "not reproduced": an unadjusted 95 % CI that excludes the reported Δ
                t = sps.t.ppf(0.975, n - 1)
                excl = (truth[c] < mean - t * se) | (truth[c] > mean + t * se)
                out[rows, j] = np.where(excl, RANK["not reproduced"], RANK["unresolved"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--records", type=Path, default=ROOT / "leaderboard" / "records" / "paper-cpu-full")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--margin", type=float, default=1.0, help="AUC points")
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    regime = board_regime(args.records)
    truth = paper_deltas()
    lv = Levels(args.alpha, "linear")
    rng = np.random.default_rng(args.seed)
    d = simulate_deltas(rng, args.reps, regime, np.nan_to_num(truth), 0.0)
    rows = []
    for design in ("fixed5", "sequential"):
        look = procedure_looks(d, lv, args.margin, design == "sequential")
        for rule in ("claims", "unadjusted"):
            ranks = labels(d, look, truth, args.alpha, args.margin, rule, design == "sequential")
            bad = (ranks <= RANK["not reproduced"]).any(1)
            row = {"design": design, "rule": rule, "mislabelled_board": float(bad.mean()),
                   "mc_se": mc_se(float(bad.mean()), args.reps),
                   "mean_reproduced": float((ranks == RANK["reproduced"]).sum(1).mean()) if rule == "claims" else None,
                   "mean_looks": float(look.mean() + 1)}
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    out = ROOT / "benchmarks" / "results" / f"sim-claims-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({**header(False), "reps": args.reps, "alpha": args.alpha, "margin": args.margin,
                               "looks": LOOKS, "truth": truth.tolist(), "regime": regime, "rows": rows},
                              indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
