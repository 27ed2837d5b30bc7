"""A board that grows: the suite's own rows are one multiplicity family, each block added later a
family of its own, so a submission never moves a published verdict or adjusted p."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medattn_bench.analysis import ComparisonRow, analyse, families_of
from medattn_bench.leaderboard import render
from medattn_bench.records import load_records, load_suite_infos
from medattn_bench.runner import plan, run_suite
from medattn_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]

def test_families_are_the_suites_own_rows_then_one_per_added_block():
    rows = [ComparisonRow(ds, v) for ds in ("a", "b") for v in ("se", "gc", "mine", "yours")]
    fams = families_of(rows, ["none", "se", "gc"])
    assert [[(r.dataset, r.variant) for r in f] for f in fams] == [
        [("a", "se"), ("a", "gc"), ("b", "se"), ("b", "gc")], [("a", "mine"), ("b", "mine")],
        [("a", "yours"), ("b", "yours")]]
    assert families_of(rows, None) == [rows]  # a folder without a recorded family: one, as before


def _state(folder: Path) -> dict:
    recs, _ = load_records(folder)
    infos, _ = load_suite_infos(folder)
    a = next(x for x in analyse(recs, infos) if x.name == "tinyboard")
    return {(ds, v): (r.outcome, r.p_adj, r.p_equiv_adj, r.family) for ds, d in a.datasets.items()
            for v, r in d.comparisons.items()}


@pytest.mark.slow
def test_a_submitted_block_moves_no_published_verdict_or_adjusted_p(tiny_board, tmp_path):
    root = tiny_board.copy(tmp_path)
    path, rec = tiny_board.suite_file, root / "tinyboard"
    assert json.loads((rec / "suite.json").read_text())["family"] == ["none", "se", "gc"]
    before = _state(root)
    # a plugin author adds a block on the command line, into the same folder
    s2 = load_suite(path, ["attention+=[{name: eca}]"])
    run_suite(s2, str(path), plan(s2, records_dir=rec), ["attention+=[{name: eca}]"], records_dir=rec,
              log=lambda m: None)
    info = json.loads((rec / "suite.json").read_text())
    assert info["family"] == ["none", "se", "gc"] and info["overrides"] == ["attention+=[{name: eca}]"]
    after = _state(root)
    assert {k: v for k, v in after.items() if k[1] != "eca"} == before  # outcome, p_adj, p_equiv_adj alike
    assert {v[3] for k, v in after.items() if k[1] == "eca"} == {1}
    recs, _ = load_records(root)
    infos, _ = load_suite_infos(root)
    text = render(recs, infos)
    import re

    own = re.search(r"Multiplicity: the suite's own rows \(([^)]*)\) form one Holm family", text)
    assert own and sorted(own.group(1).split(", ")) == ["gc", "se"] and "(added here: eca)" in text


def test_committed_simulation_of_a_growing_board():
    """benchmarks/sim_families.py: joining the board's family, a block that does nothing moves a
    published verdict on many boards; judged in its own family it moves none and its own
    family-wise error rates stay at or below α."""
    files = sorted((ROOT / "benchmarks" / "results").glob("sim-families-*.json"))
    assert files, "run python benchmarks/sim_families.py and commit its result"
    res = json.loads(files[-1].read_text())
    rows = {(r["truth_submission"], r["policy"]): r for r in res["rows"]}
    assert rows[(0.0, "one family")]["published_verdict_moved"] > 0.05 + 3 * rows[(0.0, "one family")]["mc_se"]
    for truth in (0.0, res["margin"]):
        own = rows[(truth, "own family")]
        assert own["published_verdict_moved"] == 0.0
        assert own["submission_fwer_better_worse"] <= res["alpha"] + 3 * own["mc_se"]
        assert own["submission_fwer_equivalence"] <= res["alpha"] + 3 * own["mc_se"]
    assert np.isfinite(rows[(res["margin"], "own family")]["submission_concluded"])
