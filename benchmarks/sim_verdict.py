"""The seed-level tests under the null and under a real difference, by simulation
(``python benchmarks/sim_verdict.py --reps 1000 --sizes 100,600``): 3 splits; per split both
variants trained once, each trained model's AUC varying with sd tau (training noise); case
difficulty shared by all models on a split. Prints the rejection rates at alpha 0.05 of plain
Hartung-Knapp (the decisive test), HK with the 'SE >= DL SE' modification, a t-test on per-split
deltas, and the case-only paired DeLong test, plus the decisive test's CI coverage. JSON saved
under benchmarks/results/. tests/test_verdict.py checks the decisive test's rows on every run."""

from __future__ import annotations

import argparse
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy import stats as sps
from scipy.stats import norm

from medattn_bench.stats import PairedRun, random_effects, split_delta

MU0 = 1.5


def simulate_split(rng, n, tau_auc, delta_mu=0.0):
    y = np.repeat([0, 1], n // 2)
    case = rng.normal(0, 1, n)
    sd_mu = tau_auc / (norm.pdf(MU0 / np.sqrt(2.5)) / np.sqrt(2.5))

    def model(shift):
        return (MU0 + shift + rng.normal(0, sd_mu)) * y + case + rng.normal(0, 0.5, n)

    return PairedRun.checked(y, model(delta_mu), model(0.0))


def modified_hk_p(d, v):
    from statsmodels.stats.meta_analysis import combine_effects

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = combine_effects(np.asarray(d), np.maximum(v, 1e-10), method_re="dl", use_t=True)
    if res.tau2 > 0:
        m, se = res.mean_effect_re, max(res.sd_eff_w_re_hksj, res.sd_eff_w_re)
    else:
        m, se = res.mean_effect_fe, max(res.sd_eff_w_fe_hksj, res.sd_eff_w_fe)
    return float(2 * sps.t.sf(abs(m) / se, len(d) - 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--sizes", default="100,600")
    ap.add_argument("--splits", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        for tau in (0.0, 0.01, 0.02):
            for dmu, label in ((0.0, "H0"), (0.12, "H1")):
                rng = np.random.default_rng(5)
                rej = np.zeros(4)
                cover = 0
                for _ in range(args.reps):
                    parts = [split_delta(simulate_split(rng, n, tau, dmu)) for _ in range(args.splits)]
                    d, v = [p[0] for p in parts], [p[1] for p in parts]
                    hk = random_effects(d, v)
                    z = np.mean(d) / (np.sqrt(np.sum(v)) / len(d))
                    rej += np.array([hk.p, modified_hk_p(d, v), sps.ttest_1samp(d, 0).pvalue,
                                     2 * norm.sf(abs(z))]) < 0.05
                    cover += hk.ci_lo <= 0 <= hk.ci_hi
                row = {"n_test": n, "tau_auc": tau, "hypothesis": label, "hk": rej[0] / args.reps,
                       "hk_modified": rej[1] / args.reps, "t_test": rej[2] / args.reps,
                       "case_only_delong": rej[3] / args.reps,
                       "hk_coverage_of_zero": cover / args.reps if label == "H0" else None}
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = Path(__file__).resolve().parent / "results" / f"sim-verdict-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"reps": args.reps, "splits": args.splits, "rows": rows}, indent=1) + "\n")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
