"""Statistics checked against sklearn, hand computation and simulation (coverage, type-I, power)."""

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from medattn_bench.errors import StatsError
from medattn_bench.stats import (PairedRun, adjust_pvalues, bootstrap_ci, delong_ci, paired_comparison,
                                 paired_delong, rank_variants)


@pytest.mark.parametrize("seed", range(5))
def test_auc_agrees_with_sklearn_including_ties(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y * 0.7, 1), 1)  # rounding creates many ties
    assert delong_ci(y, s).auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_delong_hand_computed():
    # pos 0.9, 0.8, 0.4; neg 0.5, 0.3. V10 = (1, 1, 1/2), V01 = (2/3, 1):
    # AUC = 5/6, S10 = 1/12, S01 = 1/18, Var = S10/3 + S01/2 = 1/18.
    ci = delong_ci([1, 1, 1, 0, 0], [0.9, 0.8, 0.4, 0.5, 0.3])
    assert ci.auc == pytest.approx(5 / 6)
    assert ci.se == pytest.approx(np.sqrt(1 / 18))


def test_delong_variance_matches_bootstrap_on_large_sample():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 1000)
    s = rng.normal(y * 1.0, 1)
    d = delong_ci(y, s)
    b = bootstrap_ci(y, s, n_resamples=2000, method="percentile")
    assert b.se == pytest.approx(d.se, rel=0.08)


def _binormal(rng, n, d):
    y = np.repeat([0, 1], n // 2)
    return y, rng.normal(y * d, 1)


@pytest.mark.parametrize("method", ["delong", "bootstrap"])
def test_ci_coverage(method):
    rng = np.random.default_rng(42)
    d = 1.0
    truth = norm.cdf(d / np.sqrt(2))
    reps, hits = 200, 0
    for i in range(reps):
        y, s = _binormal(rng, 100, d)
        ci = delong_ci(y, s) if method == "delong" else bootstrap_ci(y, s, n_resamples=500, method="bca", seed=i)
        hits += ci.lo <= truth <= ci.hi
    assert 0.90 <= hits / reps <= 0.99


def _paired(rng, n, d, noise_a, noise_b):
    y = np.repeat([0, 1], n // 2)
    latent = rng.normal(y * d, 1)  # case difficulty shared by both models
    return PairedRun.checked(y, latent + rng.normal(0, noise_a, n), latent + rng.normal(0, noise_b, n))


def test_type_one_error_of_paired_tests():
    rng = np.random.default_rng(7)
    reps = 200
    p_boot, p_dl = [], []
    for i in range(reps):
        run = _paired(rng, 200, 1.0, 0.7, 0.7)  # identical score distributions
        c = paired_comparison([run], n_resamples=500, seed=i)
        p_boot.append(c.p_bootstrap)
        p_dl.append(c.p_delong)
    assert 0.02 <= np.mean(np.array(p_boot) < 0.05) <= 0.09
    assert 0.02 <= np.mean(np.array(p_dl) < 0.05) <= 0.09


def test_power_for_a_real_difference_of_005():
    rng = np.random.default_rng(11)
    d, sa, sb = 1.5, 0.5, 0.955
    true_delta = norm.cdf(d / np.sqrt(2 * (1 + sa**2))) - norm.cdf(d / np.sqrt(2 * (1 + sb**2)))
    assert true_delta == pytest.approx(0.05, abs=0.002)
    reps = 100
    detected = sum(paired_comparison([_paired(rng, 500, d, sa, sb)], n_resamples=500, seed=i).p_bootstrap < 0.05
                   for i in range(reps))
    assert detected / reps > 0.8


def test_pooled_delong_over_seeds_and_bootstrap_agree():
    rng = np.random.default_rng(3)
    runs = [_paired(rng, 400, 1.2, 0.5, 0.8) for _ in range(3)]
    c = paired_comparison(runs, n_resamples=4000, seed=0)
    delta, se, _ = paired_delong(runs)
    assert c.delta == pytest.approx(delta, abs=1e-6)
    assert c.delta == pytest.approx(np.mean(c.per_seed))
    # The CI should be about +-1.96 DeLong SE wide around Delta.
    assert (c.ci_hi - c.ci_lo) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert c.ci_method == "BCa"


def test_holm_against_hand_computation():
    # p sorted: 0.01 (x4=0.04), 0.03 (x3=0.09), 0.04 (x2=0.08 -> monotone 0.09), 0.2 (x1)
    out = adjust_pvalues([0.04, 0.01, 0.2, np.nan, 0.03], "holm")
    np.testing.assert_allclose(out, [0.09, 0.04, 0.2, np.nan, 0.09])
    np.testing.assert_allclose(adjust_pvalues([0.01, 0.2], "bonferroni"), [0.02, 0.4])


@pytest.mark.parametrize(
    "labels, scores, match",
    [
        ([1, 1, 1], [0.1, 0.2, 0.3], "needs both classes"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "non-finite"),
        ([0, 1], [0.1, 0.2, 0.3], r"labels \(2\) and scores \(3\) differ"),
        ([0, 2], [0.1, 0.2], "labels must be 0/1"),
    ],
)
def test_bad_inputs_raise_clear_errors(labels, scores, match):
    with pytest.raises(StatsError, match=match):
        delong_ci(labels, scores)


def test_mismatched_paired_scores():
    with pytest.raises(StatsError, match=r"labels \(3\) and scores of b \(2\) differ"):
        PairedRun.checked([0, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.2])


def test_rank_summary():
    table = {"a": {"x": 0.9, "y": 0.9, "z": 0.9}, "b": {"x": 0.8, "y": 0.8, "z": 0.8}, "c": {"x": 0.7, "y": 0.7, "z": 0.7}}
    rs = rank_variants(table)
    assert rs.mean_ranks == (1.0, 2.0, 3.0)
    assert rs.friedman_stat == pytest.approx(6.0)  # 12/(N k (k+1)) * sum R^2 - 3 N (k+1) with N=3, k=3
    # Nemenyi q_0.05 for k = 3 is 2.343 (Demsar 2006, table 5).
    assert rs.critical_difference == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 3)), rel=1e-3)


@pytest.mark.parametrize("m,n", [(60, 60), (5, 9), (200, 30)])
def test_case_bootstrap_variance_in_closed_form_matches_resampling(m, n):
    from medattn_bench.stats import _case_replicates, case_bootstrap_var

    rng = np.random.default_rng(m * n)
    d = ((rng.random((m, n)) < 0.3).astype(np.float32) - (rng.random((m, n)) < 0.25)).astype(np.float32)
    mc = np.mean([_case_replicates(d, 50_000, np.random.default_rng(s)).var() for s in range(4)])
    assert case_bootstrap_var(d) == pytest.approx(mc, rel=0.02)  # MC error of 200,000 draws: ~0.5 %
    assert case_bootstrap_var(np.zeros((4, 6))) == 0.0


def test_case_bootstrap_p_is_the_resampled_p_without_its_noise():
    from medattn_bench.stats import case_bootstrap_p

    rng = np.random.default_rng(3)
    runs = []
    for _ in range(3):
        y = np.r_[np.ones(40), np.zeros(40)]
        a = y * 0.8 + rng.standard_normal(80)
        runs.append(PairedRun.checked(y, a, a + 0.6 * rng.standard_normal(80)))
    exact = case_bootstrap_p(runs)
    resampled = paired_comparison(runs, 40_000, method="percentile", seed=1).p_bootstrap
    assert 0.001 < exact < 0.999
    assert norm.isf(exact / 2) == pytest.approx(norm.isf(resampled / 2), rel=0.03)


def test_case_counts_are_multinomial():
    """The bootstrap's case counts: each row sums to k, each count has mean 1 and variance 1 - 1/k,
    two counts covary by -1/k (multinomial with equal probabilities)."""
    from medattn_bench.stats import _case_counts

    for k in (1, 7, 40):
        w = _case_counts(np.random.default_rng(k), k, 40_000)
        assert w.shape == (40_000, k) and (w.sum(1) == k).all() and (w >= 0).all()
        assert w.mean() == pytest.approx(1.0, abs=0.01)
        assert w.var(0).mean() == pytest.approx(1 - 1 / k, abs=0.02)
        if k > 1:
            assert np.cov(w[:, 0], w[:, 1])[0, 1] == pytest.approx(-1 / k, abs=0.02)
