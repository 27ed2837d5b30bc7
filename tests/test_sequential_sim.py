"""The reference board's sequential rule: Holm with α-spending over its comparisons, checked on
constructed cases, against the committed simulation of the board's regimes
(benchmarks/sim_sequential.py), and against the board's own first look."""

import json
from pathlib import Path

import numpy as np
import pytest

from medattn_bench.analysis import ComparisonRow, DatasetAnalysis, _sequential_verdicts
from medattn_bench.stats import sequential_levels, split_t
from medattn_bench.suite import SplitsSpec, StatsSpec

ROOT = Path(__file__).resolve().parents[1]
LOOKS = (5, 10, 15, 20)


def _rows(deltas: dict[str, list[float]]):
    """One comparison per data set, its per-split ΔAUC given (DeLong variances unused by split_t)."""
    rows, parts, out = [], {}, {}
    for ds, d in deltas.items():
        r = ComparisonRow(ds, "v")
        r.decisive = split_t(d)
        rows.append(r)
        parts[(ds, "v")] = [(x, 1e-6) for x in d]
        out[ds] = DatasetAnalysis(ds, [], {}, {"v": r}, None, {})
    return rows, parts, out


def _judge(deltas, correction, spending="linear"):
    rows, parts, out = _rows(deltas)
    seq = SplitsSpec(min=5, max=20, step=5, spending=spending, correction=correction)
    windows = {(ds, v): len(d) for ds, d in deltas.items() for v in ("v", "none")}
    _sequential_verdicts(out, rows, windows, seq, StatsSpec(), parts)
    return {r.dataset: r for r in rows}, out


def _with_p(target_p: float, n: int = 5, seed: int = 0) -> list[float]:
    """n per-split deltas whose t test over splits has two-sided p = target_p."""
    from scipy import stats as sps

    z = np.random.default_rng(seed).standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=1)
    t = sps.t.isf(target_p / 2, n - 1)
    return (0.01 * (z + t / np.sqrt(n))).tolist()


def test_holm_passes_a_concluded_comparisons_share_on_and_bonferroni_does_not():
    one, two = (sequential_levels(0.05 / j, LOOKS, spending="linear")[0] for j in (1, 2))
    p_b = (one + two) / 2  # between the share of two open comparisons and that of one
    deltas = {"a": _with_p(1e-6), "b": _with_p(p_b, seed=1)}
    holm, out = _judge(deltas, "holm")
    bonf, _ = _judge(deltas, "bonferroni")
    assert holm["b"].decisive.p == pytest.approx(p_b, rel=1e-6)
    assert holm["a"].significant and holm["b"].significant
    assert bonf["a"].significant and not bonf["b"].significant
    assert holm["b"].p_adj < 0.05 <= bonf["b"].p_adj
    assert out["a"].sequential["status"].startswith("stopped at look 1")


def test_a_comparison_keeps_the_verdict_of_the_look_where_it_concluded():
    """A comparison concluded at 5 splits stops there: later splits (records of an older rule)
    do not change its verdict, and its data set reads 'stopped at look 1'."""
    d = _with_p(1e-7) + [-0.05] * 5  # 10 splits, the last five pointing the other way
    rows, out = _judge({"a": d, "b": _with_p(0.5, n=10, seed=2)}, "holm")
    assert rows["a"].significant and rows["a"].decisive.n_splits == 5
    assert out["a"].sequential["look"] == 1 and "stopped at look 1" in out["a"].sequential["status"]
    assert out["b"].sequential["look"] == 2 and out["b"].sequential["status"].startswith("continues")


def _newest() -> dict:
    files = sorted((ROOT / "benchmarks" / "results").glob("sim-sequential-*.json"))
    assert files, "run python benchmarks/sim_sequential.py"
    return json.loads(files[-1].read_text())


def test_committed_simulation_is_of_the_codes_levels():
    sim = _newest()
    assert tuple(sim["looks"]) == LOOKS
    for spending, lv in sim["levels"].items():
        for j in (1, 16):
            assert lv["two_sided"][j] == pytest.approx(sequential_levels(sim["alpha"] / j, LOOKS, spending=spending))
            assert lv["one_sided"][j] == pytest.approx(
                [x / 2 for x in sequential_levels(2 * sim["alpha"] / j, LOOKS, spending=spending)])


def test_committed_simulation_holds_alpha_for_the_boards_rule():
    """In the board's regimes (its measured spreads and shared-baseline correlation, no case-level
    persistence): the sequential rules keep the family-wise false better/worse and false
    equivalence rates at α over all looks, and Holm concludes more than Bonferroni."""
    sim = _newest()
    rows = {(r["truth"], r["split_rho"], r["procedure"]): r for r in sim["rows"]}
    a = sim["alpha"]
    for proc in ("holm_linear", "holm_obf", "bonferroni_obf"):
        null, edge = rows[("null", 0.0, proc)], rows[("margin", 0.0, proc)]
        assert null["fwer_better_worse"] <= a + 3 * null["mc_se_fwer_bw"], proc
        assert edge["fwer_equivalence"] <= a + 3 * edge["mc_se_fwer_eq"], proc
    for truth in ("margin", "observed"):
        assert (rows[(truth, 0.0, "holm_obf")]["right_direction_of_nonnull"]
                > rows[(truth, 0.0, "bonferroni_obf")]["right_direction_of_nonnull"])


@pytest.mark.slow
def test_the_boards_first_look_under_its_rule_is_what_the_fixed_look_found():
    """The board's rule (Holm, linear spending) at 5 splits concludes exactly what the fixed
    5-split board concluded: chest X-ray's four comparisons equivalent, nothing else."""
    from medattn_bench.analysis import analyse
    from medattn_bench.records import load_records, load_suite_infos
    from medattn_bench.suite import load_suite

    folder = ROOT / "leaderboard" / "records" / "paper-cpu-full"
    recs, _ = load_records(folder)
    recs = [r for r in recs if r.run.seed < 5]
    infos, _ = load_suite_infos(folder)
    info = infos["paper-cpu-full"]
    suite = load_suite(ROOT / info.file, list(info.overrides))
    info = info.model_copy(update={"splits": suite.splits.model_dump()})
    (a,) = analyse(recs, {"paper-cpu-full": info})
    verdicts = {(ds, v): row.outcome for ds, d in a.datasets.items() for v, row in d.comparisons.items()}
    assert {k for k, o in verdicts.items() if o != "inconclusive"} == {("cxr", v) for v in ("se", "cbam", "gc", "eca")}
    assert all(verdicts[("cxr", v)].startswith("equivalent") for v in ("se", "cbam", "gc", "eca"))
