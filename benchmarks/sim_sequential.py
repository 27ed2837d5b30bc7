"""Error rates and power of the reference board's sequential continuation, as it is actually run
(``python benchmarks/sim_sequential.py --reps 20000``; JSON saved under benchmarks/results/, and
tests/test_sequential_sim.py checks the newest file's rows against the levels the code uses).

The board: 16 comparisons (4 data sets x 4 variants against one baseline), the decisive test the
mean of per-split ΔAUC with a t interval over splits, looks at 5, 10, 15 and 20 splits. Per data
set, the per-split ΔAUC of its four variants are simulated as the records show them: each
variant's sd of per-split ΔAUC, and a component shared by the four (their common baseline run)
holding ``rho`` of the variance (measured on the 5 committed splits: ct 0.75, cxr 0.57, mri 0.96,
skin 0.67). ``--split-rho`` adds a component shared by every split of one variant (stratified
splits share a fifth of their test cases, and recipes disagree about particular cases: the records
show a per-case correlation of about 0.3 between splits, so about 0.2 x 0.3 x the case share of the
variance, a few per cent; 0.05 is a stress value).

Procedures (each family, better/worse and equivalence, at α = 0.05):

- ``fixed5``: the board's first look alone: Holm over the 16 at 5 splits.
- ``bonferroni_obf``: the sequential rule before this file: each comparison at α/16, spent over the
  looks by Lan-DeMets O'Brien-Fleming (``stats.sequential_levels``).
- ``holm_obf``: Holm with α-spending (the graphical procedure of Maurer & Bretz 2013 for group
  sequential designs): each open hypothesis gets α/m_open of its family, m_open the hypotheses not yet
  rejected there, spent by the same O'Brien-Fleming function; a rejection at any look passes its
  share to the others (their boundaries at this and later looks are those of the larger share).
- ``holm_linear``: the same with linear spending (α·t, power family ρ = 1): a quarter of each share
  at the first look. The board's rule (``splits.spending: linear``): its first-look boundaries
  reproduce every decision the fixed first look made (cxr's four equivalences, nothing else).
- ``as_run_obf`` / ``as_run_linear``: the first look judged at the fixed design's Holm levels, as
  the board's first look in fact was, and the open comparisons continued at looks 10, 15, 20 by
  ``holm_*``'s boundaries for those looks (the first look's rejections passing their shares on):
  the strict unconditional error of what was done, fixed first look included.

Truths: ``null`` (Δ = 0 for all 16: any better or worse is false), ``margin`` (Δ = ±margin, signs
alternating: any equivalence is false), ``observed`` (Δ = the board's own estimates at 5 splits:
power, and false directions or equivalences where the truth says so).
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

from medattn_bench.stats import sequential_levels  # noqa: E402

LOOKS = (5, 10, 15, 20)
PROCEDURES = ("fixed5", "bonferroni_obf", "holm_obf", "as_run_obf", "holm_linear", "as_run_linear")
DATASETS = ("ct", "cxr", "mri", "skin")
VARIANTS = ("se", "cbam", "gc", "eca")


def board_regime(folder: Path, splits: int = 5) -> dict:
    """Per data set: each variant's sd and mean of per-split ΔAUC (AUC points) over the first
    ``splits`` split seeds, and the share of variance the four variants share."""
    from medattn_bench.records import load_records

    recs, _ = load_records(folder)
    auc = {(r.run.dataset, r.run.variant, r.run.seed): r.metrics.auc for r in recs
           if r.ok and r.run.seed < splits and r.run.init_seed == 0}
    out = {}
    for ds in DATASETS:
        d = np.array([[100 * (auc[(ds, v, s)] - auc[(ds, "none", s)]) for s in range(splits)] for v in VARIANTS])
        c = np.corrcoef(d)
        n_test = next(r.metrics.n_test for r in recs if r.ok and r.run.dataset == ds)
        base = float(np.mean([auc[(ds, "none", s)] for s in range(splits)]))
        out[ds] = {"sd": d.std(1, ddof=1).round(3).tolist(), "mean": d.mean(1).round(3).tolist(),
                   "rho": float(np.clip(c[np.triu_indices(4, 1)].mean(), 0, 0.99)), "n_test": int(n_test),
                   "baseline_auc": round(base, 3)}
    return out


def simulate_deltas(rng, reps: int, regime: dict, truth: np.ndarray, split_rho: float) -> np.ndarray:
    """(reps, 16, 20) per-split ΔAUC in points; rows in DATASETS x VARIANTS order."""
    n = LOOKS[-1]
    out = np.empty((reps, 16, n))
    for i, ds in enumerate(DATASETS):
        sd = np.asarray(regime[ds]["sd"])[None, :, None]
        rho = regime[ds]["rho"]
        shared = rng.standard_normal((reps, 1, n)) * np.sqrt(rho)
        own = rng.standard_normal((reps, 4, n)) * np.sqrt(max(1 - rho - split_rho, 0))
        persistent = rng.standard_normal((reps, 4, 1)) * np.sqrt(split_rho)
        out[:, 4 * i:4 * i + 4] = truth[4 * i:4 * i + 4][None, :, None] + sd * (shared + own + persistent)
    return out


def look_stats(d: np.ndarray, n: int, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = d[..., :n]
    mean = x.mean(-1)
    se = x.std(-1, ddof=1) / np.sqrt(n)
    p = 2 * sps.t.sf(np.abs(mean) / se, n - 1)
    p_eq = np.maximum(sps.t.sf((mean + margin) / se, n - 1), sps.t.cdf((mean - margin) / se, n - 1))
    return mean, p, p_eq


class Levels:
    """Nominal levels by look and share: two-sided (better/worse) and one-sided (equivalence), for
    the share α/j of j open hypotheses, from the code's own ``stats.sequential_levels``."""

    def __init__(self, alpha: float, spending: str, m: int = 16):
        def lv(a: float) -> tuple[float, ...]:
            return sequential_levels(a, LOOKS, spending=spending)

        self.two = np.array([[0.0] * len(LOOKS)] + [lv(alpha / j) for j in range(1, m + 1)])
        self.one = np.array([[0.0] * len(LOOKS)] + [tuple(x / 2 for x in lv(min(2 * alpha / j, 0.999)))
                                                    for j in range(1, m + 1)])
        self.alpha, self.m = alpha, m


def step_down(p: np.ndarray, eligible: np.ndarray, rejected: np.ndarray, level_of) -> np.ndarray:
    """Holm-type recycling within one look: reject eligible p below the level of the share of the
    hypotheses not yet rejected, repeat while that rejects more. Updates ``rejected`` in place."""
    m = p.shape[1]
    for _ in range(m):
        open_ = m - rejected.sum(1)
        lvl = level_of(np.maximum(open_, 1))[:, None]
        new = eligible & ~rejected & (p < lvl)
        if not new.any():
            break
        rejected |= new
    return rejected


def run_procedure(name: str, d: np.ndarray, lv: Levels, margin: float) -> dict:
    reps = d.shape[0]
    bw = np.zeros((reps, 16), dtype=bool)  # rejected: better / worse
    eq = np.zeros((reps, 16), dtype=bool)  # rejected: not equivalent
    sign = np.zeros((reps, 16))
    used = np.full((reps, 4), LOOKS[0])
    active = np.ones((reps, 4), dtype=bool)  # data set still adding splits
    looks = LOOKS[:1] if name == "fixed5" else LOOKS
    for k, n in enumerate(looks):
        mean, p, p_eq = look_stats(d, n, margin)
        elig = np.repeat(active, 4, axis=1) & ~bw & ~eq
        before = bw.copy()
        if name == "fixed5" or (name.startswith("as_run") and k == 0):
            two = lambda j: lv.alpha / j  # noqa: E731
            one = two
        elif name == "bonferroni_obf":
            two = lambda j: np.full(j.shape, lv.two[lv.m, k])  # noqa: E731
            one = lambda j: np.full(j.shape, lv.one[lv.m, k])  # noqa: E731
        else:  # holm_*, and as_run_* after its first look
            two = lambda j: lv.two[j, k]  # noqa: E731
            one = lambda j: lv.one[j, k]  # noqa: E731
        step_down(p, elig, bw, two)
        step_down(p_eq, elig & ~bw, eq, one)
        new = bw & ~before
        sign[new] = np.sign(mean[new])
        done = (bw | eq).reshape(reps, 4, 4).all(2)
        if k + 1 < len(looks):
            active &= ~done
            used[active] = looks[k + 1]
    return {"better_worse": bw, "equivalent": eq & ~bw, "sign": sign, "splits_used": used}


def errors(res: dict, truth: np.ndarray, margin: float) -> dict:
    bw, eqv, sign = res["better_worse"], res["equivalent"], res["sign"]
    wrong_dir = bw & (np.sign(truth)[None, :] != sign)  # includes any b/w where the truth is 0
    false_eq = eqv & (np.abs(truth)[None, :] >= margin - 1e-12)
    nonnull = np.abs(truth) > 0
    right = bw & (np.sign(truth)[None, :] == sign) & nonnull[None, :]
    return {"fwer_better_worse": float(wrong_dir.any(1).mean()), "fwer_equivalence": float(false_eq.any(1).mean()),
            "per_comparison_false_equivalence": float(false_eq.mean()),
            "right_direction_of_nonnull": float(right[:, nonnull].mean()) if nonnull.any() else float("nan"),
            "concluded": float((bw | eqv).mean()), "mean_splits": float(res["splits_used"].mean())}


def mc_se(p: float, reps: int) -> float:
    return float(np.sqrt(max(p * (1 - p), 1e-12) / reps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--records", type=Path, default=Path("leaderboard/records/paper-cpu-full"))
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--margin", type=float, default=1.0, help="AUC points")
    ap.add_argument("--seed", type=int, default=20261202)
    args = ap.parse_args()
    regime = board_regime(args.records)
    levels = {sp: Levels(args.alpha, sp) for sp in ("obf", "linear")}
    rng = np.random.default_rng(args.seed)
    observed = np.concatenate([regime[ds]["mean"] for ds in DATASETS])
    truths = {"null": np.zeros(16), "margin": args.margin * np.resize([1.0, -1.0], 16), "observed": observed}
    rows = []
    for split_rho in (0.0, 0.05):
        for tname, truth in truths.items():
            d = simulate_deltas(rng, args.reps, regime, truth, split_rho)
            for proc in PROCEDURES:
                lv = levels["linear" if proc.endswith("linear") else "obf"]
                row = {"truth": tname, "split_rho": split_rho, "procedure": proc,
                       **errors(run_procedure(proc, d, lv, args.margin), truth, args.margin)}
                row["mc_se_fwer_bw"] = mc_se(row["fwer_better_worse"], args.reps)
                row["mc_se_fwer_eq"] = mc_se(row["fwer_equivalence"], args.reps)
                rows.append(row)
                print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    out = Path(__file__).resolve().parent / "results" / f"sim-sequential-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({**header(False), "reps": args.reps, "alpha": args.alpha, "margin": args.margin,
                               "looks": LOOKS, "regime": regime,
                               "levels": {sp: {"two_sided": lv.two.tolist(), "one_sided": lv.one.tolist()}
                                          for sp, lv in levels.items()}, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
