"""Do overlapping test sets break the decisive test? (``python benchmarks/sim_overlap.py --reps 2000``;
JSON saved under benchmarks/results/, and tests/test_verdict.py checks the newest file's rows.)

The decisive test (``split_t``) treats the per-split ΔAUC as independent. With ``split.kind:
stratified`` (the paper's protocol) each split seed draws a fresh 80/20 split of one finite data
set, so two splits' test sets share about 20 % of their cases. That matters only where the two
recipes disagree *systematically* about particular cases (a case that one recipe ranks better
every time it is trained): a shared case then pushes both splits' ΔAUC the same way. Under an A/A
null (one recipe twice) no case favours either copy, and the overlap is harmless.

Model, per replicate: a pool of ``--pool`` cases (half positive), each with a difficulty
``c ~ N(0, 1)`` and a direction ``h ~ N(0, 1)`` independent of its label. Per split, each recipe is
trained once: recipe A scores ``(μ + e_A)·y + c + γ·h + ε``, recipe B ``(μ + e_B)·y + c − γ·h + ε``,
with training noise ``e ~ N(0, sd_μ)`` (sd of a model's AUC = τ) and fresh ``ε ~ N(0, 0.5)`` per
model and case. By the symmetry h -> −h the recipes have the same population AUC (Δ = 0, a true
null about recipes), yet for γ > 0 each case favours one of them. γ = 0.25 makes a third of the
per-case disagreement between a trained A and B systematic, γ = 0.5 two thirds. μ is set so that
the mean AUC is ``--base``.

Splits: ``stratified`` draws a new 20 % test set per split (as the suites do), ``kfold`` takes
disjoint folds of one shuffled pool (5 folds; split s is fold s). Reported per cell: the mean
pairwise test-set overlap, the correlation of the per-split ΔAUC between splits, and the decisive
test's two-sided rejection rate at α = 0.05 (a false-positive rate: the recipes do not differ).

``--records FOLDER`` measures instead how much real recipes disagree about particular cases: per
data set and variant, each test case's contribution to ΔAUC (variant minus baseline; the row or
column mean of the paired kernel difference) is correlated between every two splits that both
tested it, and the mean over split pairs is printed (e.g. ``--records
leaderboard/records/paper-cpu-full``, or ``leaderboard/records/aa`` for an A/A copy).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.stats import norm

from medattn_bench.stats import PairedRun, split_delta, split_t


def mu_for(auc: float, gamma: float) -> float:
    # positives minus negatives: mean μ, variance 2·(1 + γ² + 0.25) (c, h and ε of two cases)
    return float(norm.ppf(auc) * np.sqrt(2 * (1.25 + gamma**2)))


def run_cell(rng, reps: int, pool: int, base: float, tau: float, gamma: float, splits: int, kind: str,
             alpha: float = 0.05) -> dict:
    mu = mu_for(base, gamma)
    slope = norm.pdf(norm.ppf(base)) / np.sqrt(2 * (1.25 + gamma**2))  # dAUC / dμ at the base
    sd_mu = tau / slope
    y = np.repeat([0, 1], pool // 2)
    n_test = pool // 5
    rej = 0
    deltas_all = np.empty((reps, splits))
    overlaps = []
    for r in range(reps):
        c, h = rng.normal(0, 1, pool), rng.normal(0, 1, pool)
        if kind == "kfold":
            perm_pos, perm_neg = rng.permutation(np.flatnonzero(y == 1)), rng.permutation(np.flatnonzero(y == 0))
            folds = [np.concatenate([perm_neg[s * n_test // 2:(s + 1) * n_test // 2],
                                     perm_pos[s * n_test // 2:(s + 1) * n_test // 2]]) for s in range(splits)]
        else:
            folds = [np.concatenate([rng.choice(np.flatnonzero(y == 0), n_test // 2, replace=False),
                                     rng.choice(np.flatnonzero(y == 1), n_test // 2, replace=False)])
                     for _ in range(splits)]
        if r < 50:
            sets = [set(f.tolist()) for f in folds]
            overlaps += [len(sets[i] & sets[j]) / n_test for i in range(splits) for j in range(i + 1, splits)]
        d = []
        for idx in folds:
            yy = y[idx]
            a = (mu + rng.normal(0, sd_mu)) * yy + c[idx] + gamma * h[idx] + rng.normal(0, 0.5, len(idx))
            b = (mu + rng.normal(0, sd_mu)) * yy + c[idx] - gamma * h[idx] + rng.normal(0, 0.5, len(idx))
            d.append(split_delta(PairedRun.checked(yy, a, b))[0])
        deltas_all[r] = d
        rej += split_t(d).p < alpha
    cc = np.corrcoef(deltas_all.T)
    corr = float(cc[np.triu_indices(splits, 1)].mean())
    rate = rej / reps
    return {"kind": kind, "gamma": gamma, "tau_points": 100 * tau, "splits": splits, "base_auc": base, "pool": pool,
            "n_test": n_test, "reps": reps, "mean_overlap": float(np.mean(overlaps)), "delta_corr": corr,
            "fpr": rate, "mc_se": float(np.sqrt(max(rate * (1 - rate), 0.05 * 0.95) / reps))}


def per_case_agreement(folder: Path, baseline: str = "none") -> list[dict]:
    """Mean correlation, over pairs of splits, of the per-case ΔAUC contributions on the cases
    both splits tested, per data set and variant of the records in ``folder`` (one suite)."""
    import itertools

    def load(path: Path) -> dict:
        t = json.loads(path.read_text())["test"]
        return dict(zip(t["ids"], zip(t["labels"], t["scores"])))

    def contributions(a: dict, b: dict) -> dict:
        ids = sorted(set(a) & set(b))
        y = np.array([a[i][0] for i in ids])
        sa, sb = (np.array([r[i][1] for i in ids]) for r in (a, b))
        pos, neg = y == 1, y == 0
        k = (PairedRun.checked(y, sa, sb).kernel_difference())
        out = dict(zip(np.array(ids)[pos], k.mean(1)))
        out.update(zip(np.array(ids)[neg], k.mean(0)))
        return out

    rows = []
    for ds in sorted(p for p in folder.iterdir() if (p / baseline).is_dir()):
        for var in sorted(p.name for p in ds.iterdir() if p.is_dir() and p.name != baseline):
            per = {}
            for f in sorted((ds / var).glob("seed*.json")):
                base = ds / baseline / f.name
                if base.is_file():
                    per[f.name] = contributions(load(f), load(base))
            cors, overlaps = [], []
            for s, t in itertools.combinations(per, 2):
                shared = sorted(set(per[s]) & set(per[t]))
                overlaps.append(len(shared) / len(per[s]))
                x, z = (np.array([per[u][i] for i in shared]) for u in (s, t))
                if len(shared) > 2 and x.std() > 0 and z.std() > 0:
                    cors.append(float(np.corrcoef(x, z)[0, 1]))
            if cors:
                rows.append({"dataset": ds.name, "variant": var, "splits": len(per), "mean_overlap": float(np.mean(overlaps)),
                             "per_case_corr": float(np.mean(cors)), "min": min(cors), "max": max(cors)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--pool", type=int, default=1000, help="cases in the data set (test sets hold a fifth)")
    ap.add_argument("--base", type=float, default=0.85)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--records", type=Path, help="measure per-case agreement in one suite's records folder instead")
    args = ap.parse_args()
    if args.records:
        for r in per_case_agreement(args.records):
            print(f"{r['dataset']:12s} {r['variant']:8s} {r['splits']} splits, test-set overlap {r['mean_overlap']:.2f}, "
                  f"per-case ΔAUC contribution correlated between splits {r['per_case_corr']:+.2f} "
                  f"(pairs {r['min']:+.2f} to {r['max']:+.2f})")
        return
    rng = np.random.default_rng(args.seed)
    rows = []
    for gamma in (0.0, 0.25, 0.5):
        for tau in (0.0, 0.01):
            for splits in (3, 5):
                for kind in ("stratified", "kfold"):
                    row = run_cell(rng, args.reps, args.pool, args.base, tau, gamma, splits, kind)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    out = Path(__file__).resolve().parent / "results" / f"sim-overlap-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"reps": args.reps, "pool": args.pool, "base_auc": args.base, "alpha": 0.05,
                               "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
