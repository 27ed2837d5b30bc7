"""Statistics at benchmark size: paired bootstrap 10,000 x 3 seeds x 1,000 cases; DeLong on 100,000."""

import numpy as np

from medattn_bench.stats import PairedRun, delong_ci, paired_comparison


def test_paired_bootstrap_10k_resamples_3_seeds_1000_cases(benchmark):
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(3):
        y = np.repeat([0, 1], 500)
        latent = rng.normal(y, 1)
        runs.append(PairedRun.checked(y, latent + rng.normal(0, 0.5, 1000), latent + rng.normal(0, 0.6, 1000)))
    n = 10_000 if not benchmark.disabled else 200
    c = benchmark(paired_comparison, runs, n_resamples=n, seed=0)
    assert c.ci_lo <= c.delta <= c.ci_hi


def test_delong_100k_cases(benchmark):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 100_000)
    s = rng.normal(y, 1)
    ci = benchmark(delong_ci, y, s)
    assert 0.7 < ci.auc < 0.8 and ci.se < 0.01
