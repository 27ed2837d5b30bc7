"""Which pooled ΔAUC should decide, and are its verdicts' error rates what the board says?
(``python benchmarks/sim_pooled.py --reps 2000``, and ``--mde-only`` for the power at the printed
MDE; JSON saved under benchmarks/results/, and tests/test_verdict.py checks the newest files' rows
on every run).

Per split both variants are trained once: each trained model's AUC varies with sd tau (training
noise) around the recipe's mean, case difficulty is shared by the two models of a split (paired).
Binormal scores with a mean AUC of the two recipes of 0.85 or 0.97 (Φ(μ/√2.5)), test sets of ``--n`` cases (half
positive). The true ΔAUC of the recipes is computed from the model (expectation over training
noise), not taken from the shift. Compared, on the same simulated splits:

- ``re``: DerSimonian-Laird random-effects mean with the Hartung-Knapp t interval (the decisive
  test up to this version), inverse-variance weights from each split's DeLong variance;
- ``t``: the unweighted mean of the per-split ΔAUC with a t interval on S - 1 df.

Reported per cell: the mean estimate and its bias against the true Δ (with its Monte-Carlo SE),
coverage of the true Δ by the 95 % interval, the two-sided rejection rate at α = 0.05 and at
α = 0.05/4 (false-positive rate where Δ = 0, power elsewhere), and for ``t`` the power the exact
noncentral t predicts at the true per-split sd, and the TOST false-equivalence rate at
|Δ| = margin (α = 0.05)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import stats as sps
from scipy.stats import norm

from medattn_bench.stats import PairedRun, random_effects, split_delta, t_power

S25 = np.sqrt(2.5)
GH_X, GH_W = np.polynomial.hermite_e.hermegauss(40)  # E over N(0, 1) by Gauss-Hermite


def mu_for(auc: float) -> float:
    return float(norm.ppf(auc) * S25)


def sd_mu_for(mu0: float, tau_auc: float) -> float:
    return tau_auc / (norm.pdf(mu0 / S25) / S25)


def expected_auc(mu: float, sd_mu: float) -> float:
    return float((GH_W * norm.cdf((mu + sd_mu * GH_X) / S25)).sum() / GH_W.sum())


def shift_for(mu0: float, sd_mu: float, delta_auc: float) -> float:
    """The mean shift whose expected ΔAUC (over training noise) is ``delta_auc``."""
    if delta_auc == 0:
        return 0.0
    from scipy.optimize import brentq

    base = expected_auc(mu0, sd_mu)
    return float(brentq(lambda s: expected_auc(mu0 + s, sd_mu) - base - delta_auc, -5, 5))


def simulate_split(rng, n: int, mu0: float, sd_mu: float, shift: float) -> PairedRun:
    y = np.repeat([0, 1], n // 2)
    case = rng.normal(0, 1, n)

    def model(s: float) -> np.ndarray:
        return (mu0 + s + rng.normal(0, sd_mu)) * y + case + rng.normal(0, 0.5, n)

    return PairedRun.checked(y, model(shift), model(0.0))


def t_interval(d: np.ndarray, level: float) -> tuple[float, float, float, float]:
    s = len(d)
    m, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(s))
    q = sps.t.ppf(0.5 + level / 2, s - 1)
    p = float(2 * sps.t.sf(abs(m) / se, s - 1)) if se > 0 else 1.0
    return m, m - q * se, m + q * se, p


def run_cell(rng, reps: int, n: int, base: float, tau: float, delta: float, splits: int, margin: float,
             baseline_at_base: bool = False) -> dict:
    # ``base`` is the mean AUC of the two recipes (the baseline sits Δ/2 below it): AUC 0.97 leaves
    # no room for a variant 3 points above a 0.97 baseline. ``baseline_at_base``: the baseline sits
    # at ``base`` and the variant Δ above it (what a board's power line speaks of).
    mu0 = mu_for(base if baseline_at_base else base - delta / 2)
    sd_mu = sd_mu_for(mu_for(base), tau)
    shift = shift_for(mu0, sd_mu, delta)
    est = {"re": [], "t": []}
    cover = {"re": 0, "t": 0}
    rej = {"re": 0, "t": 0}
    rej_m = {"re": 0, "t": 0}
    equiv = 0
    sds = []
    for _ in range(reps):
        parts = [split_delta(simulate_split(rng, n, mu0, sd_mu, shift)) for _ in range(splits)]
        d = np.array([p[0] for p in parts])
        v = np.array([p[1] for p in parts])
        sds.append(d.std(ddof=1))
        re = random_effects(d, v)
        m, lo, hi, p = t_interval(d, 0.95)
        p_m = p
        for key, (mm, l, h, pp) in (("re", (re.delta, re.ci_lo, re.ci_hi, re.p)), ("t", (m, lo, hi, p))):
            est[key].append(mm)
            cover[key] += l <= delta <= h
            rej[key] += pp < 0.05
        rej_m["re"] += re.p < 0.05 / 4
        rej_m["t"] += p_m < 0.05 / 4
        # TOST at alpha 0.05: the 90 % t interval inside (-margin, +margin)
        _, lo90, hi90, _ = t_interval(d, 0.90)
        equiv += -margin < lo90 and hi90 < margin
    sd_true = float(np.sqrt(np.mean(np.square(sds))))  # E[s²] = σ², so this is σ
    out = {"n_test": n, "base_auc": base, "tau_points": 100 * tau, "delta_points": 100 * delta, "splits": splits,
           "reps": reps, "per_split_sd_points": 100 * sd_true}
    for key in ("re", "t"):
        e = np.array(est[key])
        out[key] = {"mean_points": 100 * float(e.mean()), "bias_points": 100 * float(e.mean() - delta),
                    "bias_mc_se_points": 100 * float(e.std(ddof=1) / np.sqrt(reps)),
                    "coverage": cover[key] / reps, "reject_0.05": rej[key] / reps, "reject_0.0125": rej_m[key] / reps}
    out["t"]["predicted_power_0.05"] = t_power(delta, sd_true, splits, 0.05) if delta else 0.05
    out["t"]["predicted_power_0.0125"] = t_power(delta, sd_true, splits, 0.05 / 4) if delta else 0.0125
    if abs(abs(delta) - margin) < 1e-12:
        out["t"]["false_equivalence_0.05"] = equiv / reps
    return out


def mde_cells(rng, reps: int, n: int) -> list[dict]:
    """Power at the printed MDE: per setting, ``reps`` null suites (both recipes at the base AUC)
    give the per-split sd, the first 100 of them the growth of the case variance with Δ
    (:func:`variance_growth`, as the board measures it on its own splits), the board's MDE
    (exact noncentral t, α = 0.05/4 as for 4 comparisons) is computed from both, and the decisive
    test is simulated with the baseline where the null suites had it and a variant that MDE
    better. Where the variant would pass AUC 0.995 there is no room for it: power not simulated."""
    from medattn_bench.stats import min_detectable, variance_growth

    rows = []
    for base in (0.85, 0.97):
        for splits in (3, 5, 10):
            for tau in (0.0, 0.01, 0.02):
                mu0 = mu_for(base)
                sd_mu = sd_mu_for(mu0, tau)
                null = [[simulate_split(rng, n, mu0, sd_mu, 0.0) for _ in range(splits)] for _ in range(reps)]
                d0 = np.array([[split_delta(r)[0] for r in suite] for suite in null])
                sd = float(np.sqrt(d0.var(axis=1, ddof=1).mean()))
                growth = variance_growth([r for suite in null[:100] for r in suite], sd)
                plain = min_detectable(sd, splits, 0.05 / 4, 0.8).mde
                mde = min_detectable(sd, splits, 0.05 / 4, 0.8, growth=growth).mde
                row = {"base_auc": base, "splits": splits, "tau_points": 100 * tau, "n_test": n, "reps": reps,
                       "per_split_sd_points": 100 * sd, "mde_points": 100 * mde, "mde_without_growth_points": 100 * plain,
                       "growth_at_mde_points2": 1e4 * float(np.interp(mde, *growth)),
                       "growth": {"delta": growth[0].tolist(), "variance": growth[1].tolist()}}
                if base + mde >= 0.995:  # no room above the baseline for a variant that much better
                    row["power_at_mde"] = None
                else:
                    cell = run_cell(rng, reps, n, base, tau, mde, splits, 0.01, baseline_at_base=True)
                    row["power_at_mde"] = cell["t"]["reject_0.0125"]
                    row["per_split_sd_at_mde_points"] = cell["per_split_sd_points"]
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "growth"}), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--n", type=int, default=650)
    ap.add_argument("--margin", type=float, default=0.01)
    ap.add_argument("--mde-only", action="store_true", help="only the power-at-MDE cells (sim-mde-*.json)")
    args = ap.parse_args()
    rng = np.random.default_rng(20261128)
    if args.mde_only:
        rows = mde_cells(rng, args.reps, args.n)
        out = Path(__file__).resolve().parent / "results" / f"sim-mde-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps({"reps": args.reps, "n_test": args.n, "alpha": 0.05 / 4, "power": 0.8,
                                   "rows": rows}, indent=1) + "\n")
        print(f"saved {out}")
        return
    rows = []
    for base in (0.85, 0.97):
        for splits in (3, 5):
            for tau in (0.0, 0.01, 0.02):
                for delta in (0.0, 0.01, 0.024, 0.03):
                    row = run_cell(rng, args.reps, args.n, base, tau, delta, splits, args.margin)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    out = Path(__file__).resolve().parent / "results" / f"sim-pooled-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"reps": args.reps, "n_test": args.n, "margin": args.margin, "rows": rows}, indent=1) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
