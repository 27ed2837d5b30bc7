"""The decisive test of a variant against the baseline, checked by simulation with training noise
(the false-positive rate and CI coverage the issue asks for) and against independent computations."""

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.power import TTestPower

from medattn_bench.errors import StatsError
from medattn_bench.metrics import calibration
from medattn_bench.stats import (PairedRun, friedman_exact_p, min_detectable, paired_comparison, random_effects,
                                 split_bootstrap, split_delta, verdict)

MU0 = 1.5  # binormal separation of a trained model: AUC about 0.80


def _split(rng, n, tau_auc, delta_mu=0.0, k=1):
    """One split: n test cases, both variants trained k times. Training noise moves each model's
    separation so that its AUC varies with sd tau_auc; case difficulty is shared by all models."""
    y = np.repeat([0, 1], n // 2)
    case = rng.normal(0, 1, n)
    slope = norm.pdf(MU0 / np.sqrt(2.5)) / np.sqrt(2.5)  # dAUC / dmu for noise sd 0.5 on top of the case
    sd_mu = tau_auc / slope

    def model(shift):
        return (MU0 + shift + rng.normal(0, sd_mu)) * y + case + rng.normal(0, 0.5, n)

    a = np.array([model(delta_mu) for _ in range(k)])
    b = np.array([model(0.0) for _ in range(k)])
    return PairedRun.checked(y, a[0] if k == 1 else a, b[0] if k == 1 else b)


REPS = 600
MC = 2 * np.sqrt(0.05 * 0.95 / REPS)  # two Monte-Carlo standard errors of a 5 % rate


@pytest.mark.parametrize("tau", [0.0, 0.01, 0.02])
def test_decisive_test_holds_alpha_and_covers_under_training_noise(tau):
    rng = np.random.default_rng(int(tau * 1000) + 7)
    rej = cover = rej_boot = 0
    for _ in range(REPS):
        runs = [_split(rng, 100, tau) for _ in range(3)]
        v = verdict(runs)
        rej += v.p < 0.05
        cover += v.ci_lo <= 0 <= v.ci_hi
        rej_boot += split_bootstrap(runs, 400, seed=1).p < 0.05
    assert rej / REPS <= 0.05 + MC, f"random effects false-positive rate {rej / REPS:.3f}"
    assert cover / REPS >= 0.93, f"coverage {cover / REPS:.3f}"
    assert rej_boot / REPS <= 0.05 + MC, f"split bootstrap false-positive rate {rej_boot / REPS:.3f}"


def test_case_only_bootstrap_is_liberal_under_training_noise_and_the_decisive_test_is_not():
    """Why the case-only test cannot be the verdict on a variant: with tau = 2 AUC points and 600
    test cases it rejects a true null far more often than 5 %."""
    rng = np.random.default_rng(11)
    case = dec = 0
    reps = 150
    for i in range(reps):
        runs = [_split(rng, 600, 0.02) for _ in range(3)]
        case += paired_comparison(runs, 300, seed=i, method="percentile").p_bootstrap < 0.05
        dec += verdict(runs).p < 0.05
    assert case / reps > 0.25
    assert dec / reps <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / reps)


def test_decisive_test_has_power_against_a_real_difference():
    rng = np.random.default_rng(5)
    hits = sum(verdict([_split(rng, 600, 0.0, delta_mu=0.25) for _ in range(5)]).p < 0.05 for _ in range(100))
    assert hits >= 60


def test_random_effects_matches_statsmodels_and_truncates_negative_tau2():
    d, v = np.array([0.01, -0.02, 0.05]), np.array([1e-4, 2e-4, 1.5e-4])
    r = random_effects(d, v)
    sm = combine_effects(d, v, method_re="dl", use_t=True)
    assert sm.tau2 > 0
    assert r.delta == pytest.approx(sm.mean_effect_re) and r.se == pytest.approx(sm.sd_eff_w_re_hksj)
    assert r.tau == pytest.approx(np.sqrt(sm.tau2)) and r.df == 2
    lo, hi = sm.conf_int(use_t=True)[3]  # "random effect wls": the Hartung-Knapp interval
    assert (r.ci_lo, r.ci_hi) == pytest.approx((lo, hi))
    # Observed spread below what the within-split variances predict: statsmodels returns a negative
    # tau², the truncated estimate is 0 and the model is the fixed-effect one (weights 1 / v).
    d2 = np.array([0.001, 0.0, -0.001])
    r2 = random_effects(d2, v)
    w = 1 / v
    assert r2.tau == 0 and r2.delta == pytest.approx((w * d2).sum() / w.sum()) and np.isfinite(r2.se)


def test_split_delta_averages_inits_and_reduces_to_paired_delong():
    rng = np.random.default_rng(2)
    one = _split(rng, 200, 0.01)
    d, var = split_delta(one)
    c = paired_comparison([one], 2000, seed=0)
    assert d == pytest.approx(c.delta) and np.sqrt(var) == pytest.approx(c.delong_delta_se)
    two = _split(rng, 200, 0.01, k=2)
    d2, var2 = split_delta(two)
    a = [split_delta(PairedRun.checked(two.labels, two.scores_a[i], two.scores_b[i]))[0] for i in range(2)]
    assert d2 == pytest.approx(np.mean(a)) and var2 > 0


def test_verdict_needs_two_splits():
    with pytest.raises(StatsError, match="at least 2 splits"):
        verdict([_split(np.random.default_rng(0), 50, 0.0)])


def test_min_detectable_against_statsmodels_power():
    sd, s = 0.02, 6
    p = min_detectable(sd, s, alpha=0.05, power=0.8)
    exact = TTestPower().solve_power(nobs=s, alpha=0.05, power=0.8) * sd  # noncentral t, one-sample
    assert p.mde == pytest.approx(exact, rel=0.08)
    assert p.seeds_for_one_point and min_detectable(sd, p.seeds_for_one_point).mde <= 0.01
    assert min_detectable(sd, p.seeds_for_one_point - 1).mde > 0.01


def test_friedman_exact_p_against_published_tables():
    # Exact null distribution of Friedman's statistic, k = 3 treatments, n = 4 blocks
    # (e.g. Hollander & Wolfe): P(S >= 6.0) = 0.069, P(S >= 6.5) = 0.042, P(S >= 8.0) = 0.0046.
    assert friedman_exact_p(6.0, 3, 4) == pytest.approx(0.069, abs=0.0005)
    assert friedman_exact_p(6.5, 3, 4) == pytest.approx(0.042, abs=0.0005)
    assert friedman_exact_p(8.0, 3, 4) == pytest.approx(0.0046, abs=0.0001)
    assert friedman_exact_p(0.0, 4, 2) == pytest.approx(1.0)


def test_calibration_hand_computed():
    # p = 0.9 (y=1, right), 0.8 (y=0, wrong), 0.3 (y=0, right), 0.55 (y=1, right); 15 bins on [0, 1]:
    # conf 0.9 -> bin 13, 0.8 -> bin 12, 0.7 -> bin 10, 0.55 -> bin 8; one case each, so
    # ECE = (|1-0.9| + |0-0.8| + |1-0.7| + |1-0.55|) / 4 = 0.4125.
    c = calibration([1, 0, 0, 1], [0.9, 0.8, 0.3, 0.55])
    assert c["ece"] == pytest.approx(0.4125)
    assert c["brier"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.2025) / 4)
    with pytest.raises(StatsError, match=r"\[0, 1\]"):
        calibration([0, 1], [0.2, 1.2])
