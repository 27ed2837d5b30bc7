"""The resolution check's rule by simulation (``python benchmarks/sim_protocol.py --reps 2000``;
JSON saved under benchmarks/results/, and tests/test_protocol_check.py checks the newest file).

The rule (analysis/protocol_check.py): per split, the attention effect under the check's protocol
minus under the board's, from one DeLong contrast of four models on the same test images; across
splits the decisive t over splits; "differs" when the Holm-adjusted two-sided p < α, "same" when
the Holm-adjusted TOST p (within ± margin) < α, over the check's variants (SE and CBAM against one
shared baseline: their differences are correlated through it).

Model, in the full skin set's regime (3,297 images, about half malignant, 659 test images per
split; 80/20 stratified splits drawn afresh per split seed, so test sets overlap): a pool of cases
with a difficulty ``c``, a direction ``h`` and a resolution effect ``g``, each N(0, 1). Model of
recipe r (baseline, SE, CBAM) under protocol p (64 or 128 px) on split s scores

    (δ_{r,p} + e_{r,p,s})·y + c + γ_r·h + λ·g·[p = 128] + ε

with training noise ``e`` (τ: the sd of a model's AUC over trainings; the same recipe's two
protocols on one split correlated by ρ: they train on the same images), per-case preferences of
each recipe ``γ_r·h`` shared by both protocols (so the two ΔAUC covary, as real recipes that rank
particular cases alike would), and fresh ε ~ N(0, 0.5) per model and case. δ sets the baseline's
AUC at each resolution (0.906 at 64 px, as on the board; 0.925 at 128 px) and each variant's
ΔAUC (2 points at 64 px; at 128 px 2 + the difference simulated), met exactly for the expected
AUC of this binormal model. Cells: τ 0.6 or 1.0 points, ρ 0.5 or 0, γ 0.25 or 0, λ 0.5 or 0.

Per cell: the family-wise rate of a false "differs" (both differences 0) and of a false "same"
(both at the margin, +1 point), the power to find "differs" when the effect is gone at 128 px
(-2 points) and when it grows by 3 points, the unadjusted CI's coverage, and the simulated
between-split sd of ΔAUC at 64 px (the board shows 0.9-1.1 points for skin) and of the
difference.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import norm

from medattn_bench.analysis.pairing import _decisive_from_parts
from medattn_bench.analysis.protocol_check import judge
from medattn_bench.settings import StatsSpec
from medattn_bench.stats import contrast_delta

from _common import header, save

POOL, POS, N_TEST = 3297, 1497, 659
BASE = {64: 0.906, 128: 0.925}
EFFECT_64 = 2.0  # AUC points, the variants' ΔAUC at 64 px (the board: SE +2.1, CBAM +2.6)
NOISE = 0.5


def _sd(gamma: float, lam: float, p: int) -> float:
    """sd of (positive - negative) score beyond μ: c, h, ε (and g at 128 px) of two cases."""
    return float(np.sqrt(2 * (1 + gamma**2 + NOISE**2 + (lam**2 if p == 128 else 0))))


def simulate(rng, reps: int, splits: int, tau: float, rho: float, gamma: float, lam: float, diff: float,
             st: StatsSpec) -> dict:
    """``reps`` checks; both variants' true difference (128 minus 64 px) is ``diff`` AUC points."""
    y = np.zeros(POOL, dtype=int)
    y[:POS] = 1
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = round(N_TEST * POS / POOL)
    recipes = ("none", "se", "cbam")
    # μ + δ on the score scale: a model's AUC, averaged over its training noise e, is
    # Φ((μ + δ) / sqrt(sd² + sd_e²)) in this binormal model, so the targets are met exactly
    slope = {p: norm.pdf(norm.ppf(BASE[p])) / _sd(gamma, lam, p) for p in (64, 128)}
    sd_e = {p: tau / 100 / slope[p] for p in (64, 128)}
    target = {(r, p): BASE[p] + (0.0 if r == "none" else (EFFECT_64 + (diff if p == 128 else 0)) / 100)
              for r in recipes for p in (64, 128)}
    delta = {(r, p): norm.ppf(a) * np.hypot(_sd(gamma, lam, p), sd_e[p]) for (r, p), a in target.items()}
    pref = {"none": -gamma, "se": gamma, "cbam": gamma}  # each variant ranks some cases better than the baseline
    outcomes, covered, d64, dd = [], 0, [], []
    for _ in range(reps):
        c, h, g = rng.normal(0, 1, POOL), rng.normal(0, 1, POOL), rng.normal(0, 1, POOL)
        h_cbam = rng.normal(0, 1, POOL)  # SE and CBAM prefer different cases
        parts = {v: [] for v in recipes[1:]}
        for _s in range(splits):
            idx = np.concatenate([rng.choice(neg, N_TEST - n_pos, replace=False), rng.choice(pos, n_pos, replace=False)])
            yy = y[idx]
            shared = {r: rng.normal(0, 1) for r in recipes}
            scores = {}
            for r in recipes:
                for p in (64, 128):
                    e = sd_e[p] * (np.sqrt(rho) * shared[r] + np.sqrt(1 - rho) * rng.normal(0, 1))
                    hh = (h_cbam if r == "cbam" else h)[idx]
                    scores[r, p] = ((delta[r, p] + e) * yy + c[idx] + pref[r] * hh
                                    + (lam * g[idx] if p == 128 else 0) + rng.normal(0, NOISE, len(idx)))
            for v in recipes[1:]:
                four = [scores[v, 128], scores["none", 128], scores[v, 64], scores["none", 64]]
                parts[v].append((contrast_delta(yy, four[2:], [1, -1]), contrast_delta(yy, four, [1, -1, -1, 1])))
        diffs = []
        for v in recipes[1:]:
            a = np.asarray([[x[0][0], x[0][1], x[1][0], x[1][1]] for x in parts[v]])
            d64.append(float(np.std(a[:, 0], ddof=1)))
            dd.append(float(np.std(a[:, 2], ddof=1)))
            diffs.append(_decisive_from_parts(a[:, 2], a[:, 3], st))
            covered += diffs[-1].ci_lo <= diff / 100 <= diffs[-1].ci_hi
        outcomes.append([o for _, _, o in judge(diffs, st)])
    o = np.asarray(outcomes)
    return {"any_differs": float((o == "differs").any(1).mean()), "each_differs": float((o == "differs").mean()),
            "any_same": float(((o != "differs") & (o != "inconclusive")).any(1).mean()),
            "coverage": float(covered / (2 * reps)), "sd_delta_64_points": 100 * float(np.mean(d64)),
            "sd_difference_points": 100 * float(np.mean(dd))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    st = StatsSpec()
    cells = []
    for tau, rho, gamma, lam in ((0.6, 0.5, 0.25, 0.5), (0.6, 0.0, 0.25, 0.5), (1.0, 0.5, 0.25, 0.5), (0.6, 0.5, 0.0, 0.0)):
        for diff, what in ((0.0, "null"), (st.margin, "margin"), (-EFFECT_64, "effect gone at 128 px"), (3.0, "power +3")):
            rng = np.random.default_rng([args.seed, int(10 * tau), int(10 * rho), int(100 * gamma), int(10 * diff + 100)])
            row = {"tau_points": tau, "rho": rho, "gamma": gamma, "lambda": lam, "difference_points": diff, "what": what,
                   "splits": args.splits, "reps": args.reps,
                   **simulate(rng, args.reps, args.splits, tau, rho, gamma, lam, diff, st)}
            cells.append(row)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    save("sim-protocol", False, {**header(False), "alpha": st.alpha, "margin_points": st.margin,
                                 "correction": st.correction, "test": st.test, "pool": POOL, "n_test": N_TEST,
                                 "base_auc": {str(k): v for k, v in BASE.items()}, "effect_64_points": EFFECT_64,
                                 "cells": cells})


if __name__ == "__main__":
    main()
