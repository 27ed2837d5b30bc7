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


def population_cell(rng, reps: int, pool: int, base: float, tau: float, gamma: float, splits: int, kind: str,
                    train_effect: float = 0.0, alpha: float = 0.05, corr_reps: int = 30) -> dict:
    """The decisive test's rejection rate for a true null about *new patients* (recipes equal over
    the source population of cases; each replicate draws a new data set of ``pool`` cases), with
    ``splits`` split seeds: ``stratified`` re-splits (a fresh 20 % test set per seed, as the board
    does) or ``kfold`` (5 disjoint folds per repeat, split s = fold s % 5 of repeat s // 5, a new
    shuffle per repeat). ``train_effect`` (AUC points): the recipes' difference depends on the
    training set, as the sum of a per-case weight over the training cases (sd ``train_effect``
    over training sets drawn from the population; training sets of one data set overlap, so it
    does not average out over splits). Also the per-case ΔAUC contribution's correlation between
    splits on their shared cases, as ``--records`` measures it on real records."""
    mu = mu_for(base, gamma)
    slope = norm.pdf(norm.ppf(base)) / np.sqrt(2 * (1.25 + gamma**2))
    sd_mu = tau / slope
    y = np.repeat([0, 1], pool // 2)
    n_test = pool // 5
    rej, cors = 0, []
    for r in range(reps):
        c, h, w = rng.normal(0, 1, pool), rng.normal(0, 1, pool), rng.normal(0, 1, pool)
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        folds = []
        if kind == "kfold":
            for rep in range((splits + 4) // 5):
                pp, nn = rng.permutation(pos), rng.permutation(neg)
                folds += [np.concatenate([nn[f * n_test // 2:(f + 1) * n_test // 2], pp[f * n_test // 2:(f + 1) * n_test // 2]])
                          for f in range(5)]
            folds = folds[:splits]
        else:
            folds = [np.concatenate([rng.choice(neg, n_test // 2, replace=False), rng.choice(pos, n_test // 2, replace=False)])
                     for _ in range(splits)]
        d, contrib = [], []
        for idx in folds:
            yy = y[idx]
            train = np.setdiff1d(np.arange(pool), idx)
            te = train_effect / 100 / slope * w[train].sum() / np.sqrt(len(train))
            a = (mu + te + rng.normal(0, sd_mu)) * yy + c[idx] + gamma * h[idx] + rng.normal(0, 0.5, len(idx))
            b = (mu + rng.normal(0, sd_mu)) * yy + c[idx] - gamma * h[idx] + rng.normal(0, 0.5, len(idx))
            run = PairedRun.checked(yy, a, b)
            d.append(split_delta(run)[0])
            if r < corr_reps:
                k = run.kernel_difference()
                contrib.append(dict(zip(idx[yy == 1], k.mean(1))) | dict(zip(idx[yy == 0], k.mean(0))))
        rej += split_t(d).p < alpha
        for i in range(len(contrib)):
            for j in range(i + 1, len(contrib)):
                shared = sorted(set(contrib[i]) & set(contrib[j]))
                if len(shared) > 2:
                    x, z = (np.array([cc[u] for u in shared]) for cc in (contrib[i], contrib[j]))
                    cors.append(float(np.corrcoef(x, z)[0, 1]))
    rate = rej / reps
    return {"kind": kind, "gamma": gamma, "tau_points": 100 * tau, "splits": splits, "train_effect_points": train_effect,
            "base_auc": base, "pool": pool, "n_test": n_test, "reps": reps,
            "per_case_corr": float(np.mean(cors)) if cors else None, "fpr": rate,
            "mc_se": float(np.sqrt(max(rate * (1 - rate), 0.05 * 0.95) / reps))}


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
    ap.add_argument("--population", action="store_true",
                    help="the population-level rates the board states: stratified at 5/10/15/20 splits, k-fold "
                         "with 1/2/4 repeats, with and without a training-set effect")
    args = ap.parse_args()
    if args.population:
        rng = np.random.default_rng(args.seed)
        rows = []
        cells = [("stratified", g, s, 0.0) for g in (0.0, 0.25, 0.5) for s in (5, 10, 15, 20)]
        cells += [("kfold", g, s, 0.0) for g in (0.25, 0.5) for s in (5, 10, 20)]
        cells += [("kfold", 0.0, 5, te) for te in (0.3, 0.6)] + [("stratified", 0.0, 5, 0.6)]
        for kind, gamma, splits, te in cells:
            row = population_cell(rng, args.reps, args.pool, args.base, 0.01, gamma, splits, kind, te)
            rows.append(row)
            print(json.dumps(row), flush=True)
        out = Path(__file__).resolve().parent / "results" / f"sim-population-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps({"reps": args.reps, "pool": args.pool, "base_auc": args.base, "alpha": 0.05,
                                   "tau_points": 1.0, "rows": rows}, indent=1) + "\n")
        print(f"wrote {out}")
        return
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
