"""The analysis's fast paths give the same numbers as the plain computations they replace: DeLong
placements without ranking, case counts shared between variants, the A/A subsets drawn by rank,
the sequential levels from the p-values near the threshold, and the bootstraps in worker
processes."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from medattn_bench.analysis import analyse, parallel
from medattn_bench.analysis.aa import _combination_at, _split_t_p
from medattn_bench.export import write_exports
from medattn_bench.leaderboard import render_analyses
from medattn_bench.metrics import calibration
from medattn_bench.records import load_records, load_suite_infos
from medattn_bench.stats import PairedRun, paired_comparison, paired_comparisons, split_t
from medattn_bench.stats.auc import _midrank_placements
from medattn_bench.stats.paired import _shared_case_replicates
from medattn_bench.stats.sequential import _kth_smallest_p

DEMO = Path(__file__).resolve().parents[1] / "leaderboard" / "records" / "demo"


@pytest.mark.parametrize("seed", range(6))
def test_placements_equal_the_midrank_form_with_ties(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 300, 2)
    pos, neg = np.round(rng.random(m), 2), np.round(rng.random(n), 2)  # many ties
    both = sps.rankdata(np.concatenate([pos, neg]))
    v10 = (both[:m] - sps.rankdata(pos)) / n
    v01 = 1.0 - (both[m:] - sps.rankdata(neg)) / m
    got = _midrank_placements(pos, neg)
    assert np.array_equal(got[0], v10) and np.array_equal(got[1], v01)


def _runs(rng, shapes, shift):
    out = []
    for m, n in shapes:
        y = np.r_[np.ones(m, int), np.zeros(n, int)]
        base = rng.normal(y * 1.0, 1)
        out.append(PairedRun.checked(y, np.round(base + rng.normal(shift * y, 0.5), 2), np.round(base, 2)))
    return out


def test_variants_sharing_case_counts_get_what_each_gets_alone():
    rng = np.random.default_rng(0)
    shapes = [(40, 50), (45, 45), (30, 60)]
    many = [_runs(rng, shapes, s) for s in (0.0, 0.3, 0.6)] + [_runs(rng, shapes[:2], 0.2), _runs(rng, [(20, 20)], 0)]
    together = paired_comparisons(many, n_resamples=700, seed=3)
    for runs, c in zip(many, together):
        assert c == paired_comparison(runs, n_resamples=700, seed=3)


def test_the_sorted_scores_path_equals_the_matrix_product():
    rng = np.random.default_rng(4)
    runs = _runs(rng, [(60, 70)], 0.4) + _runs(rng, [(60, 70)], 0.0)
    runs[1] = PairedRun(runs[0].labels, runs[1].scores_a, runs[0].scores_b)  # one baseline, shared
    ds = [r.kernel_difference() for r in runs]
    plain = _shared_case_replicates(ds, 3000, np.random.default_rng(9))
    fast = _shared_case_replicates(ds, 3000, np.random.default_rng(9), runs)
    assert all(np.array_equal(a, b) for a, b in zip(plain, fast))


@pytest.mark.parametrize("n,k", [(1, 1), (5, 2), (9, 3), (12, 5), (7, 7)])
def test_a_combination_by_rank_is_itertools_order(n, k):
    assert [_combination_at(n, k, r) for r in range(math.comb(n, k))] == list(itertools.combinations(range(n), k))


def test_the_aa_subsets_t_test_is_split_t_on_each_subset():
    d = np.random.default_rng(1).normal(0, 0.02, (200, 3))
    d[0] = 0.01  # no spread: split_t's own rule for se = 0
    assert np.array_equal(_split_t_p(d), [split_t(row).p for row in d])


@pytest.mark.parametrize("k", [0, 1, 37, 999, 5000])
def test_the_kth_smallest_p_from_the_largest_t_is_the_plain_one(k):
    rng = np.random.default_rng(k)
    t = np.abs(rng.standard_t(4, 4000))
    t[:50] = t[50]  # ties at the threshold
    alive = rng.random(4000) < 0.9
    level, stop = _kth_smallest_p(t, alive, k, 4)
    p = 2 * sps.t.sf(t, 4)
    want = float(np.sort(p[alive])[k - 1]) if 0 < k <= alive.sum() else 0.0
    assert level == want
    assert np.array_equal(stop, alive & (p <= level) if k > 0 else np.zeros(4000, bool))


def test_calibration_equals_the_per_bin_loop():
    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 2, 500), np.round(rng.random(500) ** 2, 2)
    conf, correct = np.maximum(p, 1 - p), ((p >= 0.5) == y).astype(float)
    idx = np.minimum((conf * 15).astype(int), 14)
    ece = sum((idx == b).mean() * abs(correct[idx == b].mean() - conf[idx == b].mean()) for b in np.unique(idx))
    assert calibration(y, p)["ece"] == pytest.approx(ece, abs=1e-12)


def _demo_board(tmp_path: Path, where: str) -> tuple[str, list[str]]:
    """The demo's board and its JSON Lines tables (every number, the case-only CIs included)."""
    root = tmp_path / "records"
    if not root.exists():
        shutil.copytree(DEMO, root / "demo")
    recs, _ = load_records(root)
    infos, _ = load_suite_infos(root)
    analyses = analyse(recs, infos)
    return render_analyses(analyses), [p.read_text() for p in write_exports(analyses, "jsonl", tmp_path / where)]


def test_bootstraps_in_worker_processes_give_the_same_board(tmp_path, monkeypatch):
    if not parallel.use_processes(10**6):
        pytest.skip("one core, no fork or other threads here: the boards are analysed in line only")
    monkeypatch.setattr(parallel, "MIN_RECORDS", 10**9)  # below it: threads
    assert not parallel.use_processes(100)
    in_threads = _demo_board(tmp_path, "threads")
    monkeypatch.setattr(parallel, "MIN_RECORDS", 0)
    assert parallel.use_processes(100)
    assert _demo_board(tmp_path, "processes") == in_threads


def test_a_dead_bootstrap_worker_leaves_its_jobs_to_the_parent(tmp_path, monkeypatch):
    if not parallel.use_processes(10**6):
        pytest.skip("one core, no fork or other threads here: the boards are analysed in line only")
    import os

    monkeypatch.setattr(parallel, "MIN_RECORDS", 10**9)
    in_threads = _demo_board(tmp_path, "threads")
    monkeypatch.setattr(parallel, "MIN_RECORDS", 0)
    monkeypatch.setattr(parallel, "_one_blas_thread", lambda: os._exit(1))  # every worker dies at its start
    assert _demo_board(tmp_path, "processes") == in_threads
