"""The attention effect under two protocols (analysis/protocol_check.py): the DeLong contrast of
four models on one test set, and a check suite's effect table and protocol line on a trained board."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from medattn_bench.analysis import analyse
from medattn_bench.leaderboard import protocol_line, render_analyses
from medattn_bench.records import load_records, load_suite_infos
from medattn_bench.stats import contrast_delta, split_delta, PairedRun


def _delong_by_hand(y: np.ndarray, models: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """DeLong (1988) written out: each model's structural components by direct comparison of every
    positive with every negative, then the contrast's variance from their covariances."""
    pos, neg = models[:, y == 1], models[:, y == 0]
    h = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])  # (k, m, n)
    v10, v01 = h.mean(2), h.mean(1)
    var = c @ np.cov(v10) @ c / pos.shape[1] + c @ np.cov(v01) @ c / neg.shape[1]
    return float(c @ h.mean((1, 2))), float(var)


@pytest.mark.parametrize("inits", [1, 2])
def test_contrast_of_four_models_is_delong_of_the_difference(inits):
    rng = np.random.default_rng(inits)
    y = np.repeat([0, 1], [70, 50])
    case = rng.normal(0, 1, len(y))
    # the variant's models under both protocols share what the variant sees (likewise the
    # baseline's), so the two ΔAUC covary; rounded for ties
    seen = {"variant": rng.normal(0, 0.7, len(y)), "baseline": rng.normal(0, 0.7, len(y))}
    groups = [np.round(y * mu + case + seen[who] + rng.normal(0, 0.3, (inits, len(y))), 1)
              for mu, who in ((1.2, "variant"), (1.0, "baseline"), (0.9, "variant"), (0.95, "baseline"))]
    d, v = contrast_delta(y, groups, [1, -1, -1, 1])
    here, there = contrast_delta(y, groups[:2], [1, -1]), contrast_delta(y, groups[2:], [1, -1])
    aucs = [np.mean([roc_auc_score(y, row) for row in g]) for g in groups]  # the oracle
    assert d == pytest.approx(aucs[0] - aucs[1] - aucs[2] + aucs[3], abs=1e-12)
    assert d == pytest.approx(here[0] - there[0], abs=1e-12)
    weights = np.concatenate([np.full(inits, s / inits) for s in (1, -1, -1, 1)])
    assert v == pytest.approx(_delong_by_hand(y, np.vstack(groups), weights)[1], rel=1e-9)
    # the models share cases, so the difference's variance is not the sum of the two
    assert v < 0.5 * (here[1] + there[1])
    # two groups: the paired split delta itself
    assert contrast_delta(y, groups[:2], [1, -1]) == pytest.approx(split_delta(PairedRun.checked(y, groups[0], groups[1])))


def test_contrast_names_a_missing_sign():
    from medattn_bench.errors import StatsError

    with pytest.raises(StatsError, match="one sign per group"):
        contrast_delta([0, 1], [[0.1, 0.9]] * 3, [1, -1])


@pytest.fixture
def two_protocols(checks_board, tmp_path) -> Path:
    """The checks board twice: ``tiny`` checks ``tiny_long``, whose gc scores are reversed (a recipe
    that is worse there); se and the baseline are the same runs under both protocols."""
    copy = checks_board.copy(tmp_path)
    shutil.copytree(copy / "tiny", copy / "tiny_long")
    for p in (copy / "tiny_long").rglob("seed*.json"):
        rec = json.loads(p.read_text())
        rec["suite"] = "tiny_long"
        if "/gc/" in str(p):
            rec["test"]["scores"] = [1 - x for x in rec["test"]["scores"]]
            rec["metrics"]["auc"] = 1 - rec["metrics"]["auc"]
        p.write_text(json.dumps(rec))
    for name, extra in (("tiny_long", {"name": "tiny_long", "paper_reference": {"phantom_ct": {"none": 80.0, "gc": 82.0}},
                                       "protocol": "the long protocol"}),
                        ("tiny", {"check_against": "tiny_long"})):
        info = json.loads((copy / name / "suite.json").read_text())
        info.update(file="does-not-exist.yaml", **extra)
        (copy / name / "suite.json").write_text(json.dumps(info))
    return copy


def test_effect_check_sets_each_variants_effect_beside_the_other_protocols(two_protocols):
    recs, problems = load_records(two_protocols)
    infos, _ = load_suite_infos(two_protocols)
    analyses = analyse(recs, infos)
    tiny = next(a for a in analyses if a.name == "tiny")
    effects = {(e.dataset, e.variant): e for e in tiny.effects}
    assert sorted(effects) == [(ds, v) for ds in ("phantom_ct", "phantom_mri") for v in ("gc", "se")]  # no A/A copy
    for ds in ("phantom_ct", "phantom_mri"):
        se, gc = effects[ds, "se"], effects[ds, "gc"]
        assert se.diff.delta == 0 and se.outcome == "same within ±1"
        # gc: here AUC_gc - AUC_none, there (1 - AUC_gc) - AUC_none; per split the difference is 2 AUC_gc - 1
        auc = []
        for seed in gc.seeds:
            r = json.loads((two_protocols / "tiny" / ds / "gc" / f"seed{seed}.json").read_text())
            auc.append(roc_auc_score(r["test"]["labels"], r["test"]["scores"]))
        d = 2 * np.array(auc) - 1
        t = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        assert gc.diff.delta == pytest.approx(d.mean(), abs=1e-6)
        assert (gc.diff.ci_lo, gc.diff.ci_hi) == pytest.approx((d.mean() - t, d.mean() + t), abs=1e-6)
        assert gc.here.delta - gc.there.delta == pytest.approx(gc.diff.delta, abs=1e-6)
    p_raw = sorted(e.diff.p for e in tiny.effects)
    assert min(e.p_adj for e in tiny.effects) == pytest.approx(min(1, len(p_raw) * p_raw[0]), abs=1e-6)  # Holm's first step
    for e in tiny.effects:
        want = ("differs" if e.p_adj < 0.05 else "same within ±1" if e.p_equiv_adj < 0.05 else "inconclusive")
        assert e.outcome == want
    text = render_analyses(analyses, problems)
    section = text.split("#### The attention effect here and in `tiny_long`")[1].split("\n#")[0]
    rows = [line for line in section.splitlines() if line.startswith("| phantom")]
    verdicts = r"\| (differs|same within ±1|inconclusive) +\| [^|]+\| [^|]+\| – +\|$"
    assert len(rows) == 4 and all(re.search(verdicts, r) for r in rows)
    # beside the difference, each suite's own verdict on the variant, over its own splits
    long = next(a for a in analyses if a.name == "tiny_long")
    for (ds, v), e in effects.items():
        for verdict, suite in ((e.verdict_here, tiny), (e.verdict_there, long)):
            row = suite.datasets[ds].comparisons[v]
            assert verdict == f"{row.outcome} ({row.decisive.n_splits} splits)"
            assert f"| {verdict} " in next(r for r in rows if r.startswith(f"| {ds} ") and f"| {v} " in r)
    assert "#### The attention effect" not in text.split("## Suite `tiny_long`")[1].split("\n## Suite")[0]
    line = protocol_line(next(a for a in analyses if a.name == "tiny_long"), analyses)
    assert line.startswith("**Protocol:** the long protocol **Check** ([suite `tiny`](#suite-tiny), same splits, against "
                           "this suite's over 3 splits): ")
    effect = line.split("Attention effect (ΔAUC over none) in `tiny` minus here: ")[1]
    assert "se on phantom_ct +0.0 [+0.0, +0.0] (same within ±1)" in effect and effect.count(" on phantom_") == 4


def test_page_links_the_check_from_the_protocol_line(two_protocols):
    from medattn_bench.page import render_page

    recs, problems = load_records(two_protocols)
    infos, _ = load_suite_infos(two_protocols)
    html = render_page(analyse(recs, infos), {}, two_protocols, problems=problems)
    assert '<a href="#suite-tiny">suite <code>tiny</code></a>' in html and 'id="suite-tiny"' in html
    assert "<h5>The attention effect here and in <code>tiny_long</code></h5>" in html


def test_the_rules_error_rates_in_the_skin_regime_are_the_committed_simulation():
    """benchmarks/sim_protocol.py, newest result: in every cell (training noise, its correlation
    between the two protocols, per-case preferences), a false "differs" across the check's two
    variants and a false "same" at the margin each stay within α (3 Monte-Carlo SE), the CI covers,
    and the simulated spread of ΔAUC at 64 px is near the board's for skin (0.9-1.1 points)."""
    files = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "results").glob("sim-protocol-*.json"))
    assert files, "benchmarks/results/sim-protocol-*.json missing: run python benchmarks/sim_protocol.py"
    sim = json.loads(files[-1].read_text())
    assert (sim["alpha"], sim["margin_points"], sim["correction"], sim["test"]) == (0.05, 1.0, "holm", "split_t")
    cells = sim["cells"]
    assert {c["what"] for c in cells} == {"null", "margin", "effect gone at 128 px", "power +3"} and len(cells) == 16
    for c in cells:
        mc = 3 * np.sqrt(0.05 * 0.95 / c["reps"])
        if c["what"] == "null":
            assert c["any_differs"] <= 0.05 + mc, c
        if c["what"] == "margin":
            assert c["any_same"] <= 0.05 + mc, c
        assert abs(c["coverage"] - 0.95) <= 3 * np.sqrt(0.05 * 0.95 / (2 * c["reps"])), c
        assert 0.7 <= c["sd_delta_64_points"] <= 1.6, c
    # five splits cannot tell the effect's disappearance apart reliably: the power the docs quote
    gone = [c["each_differs"] for c in cells if c["what"] == "effect gone at 128 px"]
    assert max(gone) < 0.8


def test_splits_whose_protocols_ran_on_other_machines_are_named(two_protocols):
    """A split seed whose runs under the two protocols come from different machines is named in both
    tables, in one sentence with the two machines, and beside the check in the protocol line."""
    for p in (two_protocols / "tiny_long").rglob("seed2.json"):
        rec = json.loads(p.read_text())
        rec["env"]["device"]["name"] = "Other CPU"
        p.write_text(json.dumps(rec))
    recs, problems = load_records(two_protocols)
    infos, _ = load_suite_infos(two_protocols)
    analyses = analyse(recs, infos)
    tiny = next(a for a in analyses if a.name == "tiny")
    assert {tuple(c.other_machine) for c in tiny.checks} == {(2,)}
    assert all(list(e.other_machine) == [2] and e.other_machine[2][1].startswith("Other CPU (") for e in tiny.effects)
    text = render_analyses(analyses, problems)
    section = text.split("### Against suite `tiny_long` on the same splits")[1].split("\n### ")[0]
    bad = [line for line in section.splitlines() if line.startswith("| phantom") and not line.rstrip("| ").endswith("| 2")]
    assert not bad, bad
    assert re.search(r"Split seeds 2: trained here on \S.* and in `tiny_long` on Other CPU \(.*mixes the protocol "
                     r"with the machine", section)
    assert "two within-machine effects" in section
    line = protocol_line(next(a for a in analyses if a.name == "tiny_long"), analyses)
    assert line.count("(split seed 2 on other machines)") == len(tiny.checks)
    assert line.count(", split seed 2 on other machines)") == len(tiny.effects)


def test_protocols_tested_on_different_cases_are_refused():
    """Each protocol's pair may hold its own cases consistently, yet the two protocols must hold the
    same ones: a split whose test ids differ between them is named, not compared."""
    from types import SimpleNamespace as NS

    from medattn_bench.analysis.protocol_check import _parts
    from medattn_bench.errors import RecordError

    rng = np.random.default_rng(0)
    labels = [0] * 20 + [1] * 20

    def runs(ids: list[str]) -> dict:
        return {(s, 0): NS(ok=True, path=f"seed{s}.json", test=NS(ids=ids, labels=labels, scores=rng.random(40).tolist()))
                for s in range(3)}

    same = [f"c{i}" for i in range(40)]
    seeds, parts = _parts([runs(same), runs(same), runs(same), runs(same)], "here")
    assert seeds == [0, 1, 2] and parts.shape == (3, 3, 2)
    assert parts[:, 2, 0] == pytest.approx(parts[:, 0, 0] - parts[:, 1, 0])
    other = same[1:] + same[:1]
    with pytest.raises(RecordError, match="split seed 0: seed0.json and seed0.json were tested on different cases"):
        _parts([runs(same), runs(same), runs(other), runs(other)], "here")


def _in(analyses, name):
    return next(a for a in analyses if a.name == name)


def test_a_fixed_suite_in_progress_gives_no_verdict(two_protocols):
    """``run`` writes a fixed suite's planned split seeds to suite.json; while one is not recorded,
    its rows, its claims and its effect checks give estimates but no verdict, like a sequential
    suite's look before its last run; the board and the protocol line say how far it got."""
    recs, problems = load_records(two_protocols)
    infos, _ = load_suite_infos(two_protocols)
    assert infos["tiny"].seeds == [0, 1, 2]  # as the suite file planned them
    done = {a.name: a for a in analyse(recs, infos)}
    assert all(row.outcome != "in progress" for d in done["tiny"].datasets.values() for row in d.comparisons.values())
    for name in ("tiny", "tiny_long"):
        infos[name] = infos[name].model_copy(update={"seeds": [0, 1, 2, 3]})
    analyses = analyse(recs, infos)
    for name in ("tiny", "tiny_long"):
        for ds, d in _in(analyses, name).datasets.items():
            assert d.comparisons
            for v, row in d.comparisons.items():
                assert (row.outcome, row.waiting) == ("in progress", "3 of 4 planned split seeds recorded")
                assert np.isnan(row.p_adj) and np.isnan(row.p_equiv_adj) and not (row.significant or row.equivalent)
                assert row.decisive.delta == done[name].datasets[ds].comparisons[v].decisive.delta  # the estimate stays
    tiny = _in(analyses, "tiny")
    assert tiny.effects and all(e.outcome == "in progress" and np.isnan(e.p_adj) for e in tiny.effects)
    claims = _in(analyses, "tiny_long").claims
    assert claims and all(c.label is None and c.status == "in progress (3 of 4 planned split seeds recorded)"
                          for c in claims)
    text = render_analyses(analyses, problems)
    assert "1 in progress." in text.split("## What the study claimed")[1].split("\n")[2]
    assert text.count("| in progress: 3 of 4 planned split seeds recorded") >= 4
    line = protocol_line(_in(analyses, "tiny_long"), analyses)
    assert line.count("(in progress: 3 of 4 planned split seeds recorded)") == len(tiny.effects)


def test_a_row_complete_waits_with_the_rows_judged_with_it(two_protocols):
    """One variant's run missing on one data set: that row waits, and so does every row of its
    multiplicity family (Holm ties their adjusted p), each saying which case it is."""
    (two_protocols / "tiny" / "phantom_ct" / "gc" / "seed2.json").unlink()
    recs, _ = load_records(two_protocols)
    infos, _ = load_suite_infos(two_protocols)
    tiny = _in(analyse(recs, infos), "tiny")
    waiting = {(ds, v): row.waiting for ds, d in tiny.datasets.items() for v, row in d.comparisons.items()}
    assert waiting.pop(("phantom_ct", "gc")) == "2 of 3 planned split seeds recorded"
    gc = tiny.datasets["phantom_ct"].comparisons["gc"]  # its estimate on the splits recorded, not another protocol
    assert not gc.mixed and gc.decisive.n_splits == 2 and np.isnan(gc.p_adj)
    assert waiting and set(waiting.values()) == {"its split seeds are recorded; judged with rows still in progress"}


def test_a_check_suite_stays_out_of_the_first_screen(two_protocols):
    """A suite that checks another (``check_against``) may carry the study's claims too: they stay
    in its own section; the first screen is the checked suite's, with the check in its protocol line."""
    for name in ("tiny", "tiny_long"):
        info = json.loads((two_protocols / name / "suite.json").read_text())
        info["paper_reference"] = {"phantom_ct": {"none": 80.0, "gc": 82.0}}
        (two_protocols / name / "suite.json").write_text(json.dumps(info))
    recs, problems = load_records(two_protocols)
    infos, _ = load_suite_infos(two_protocols)
    analyses = analyse(recs, infos)
    assert _in(analyses, "tiny").claims
    text = render_analyses(analyses, problems)
    assert re.findall(r"^## What the study claimed.*$", text, re.M) == [
        "## What the study claimed, what this benchmark finds (suite `tiny_long`)"]
    assert "### The paper's claims" in text.split("## Suite `tiny`")[1].split("\n## Suite")[0]
    from medattn_bench.page import render_page

    html = render_page(analyses, {}, two_protocols, problems=problems)
    assert re.findall(r'<h2 id="findings-([^"]+)"', html) == ["tiny_long"]
