"""A sequential suite: split seeds are planned a look at a time, a data set stops when every
comparison concluded or at the maximum, and the board says which look it is on."""

import json
import re
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.metrics import calibration
from medattn_bench.runner import plan, run_suite
from medattn_bench.stats import delong_ci
from medattn_bench.suite import load_suite

SUITE = """\
name: seqtiny
datasets:
  - {name: phantom_ct, options: {n_per_class: 20, size: 16}}
  - {name: phantom_mri, options: {n_per_class: 20, size: 16}}
attention: [{name: none}, {name: se}, {name: gc}]
splits: {min: 3, max: 6, step: 3}
train: {epochs: 2, batch_size: 8, image_size: 16, lr: 0.01}
eval: {stats: {n_resamples: 200}, cost: {throughput: false}, cam: {localisation: false}}
"""


def _seeds(runs, ds):
    return sorted({r.seed for r in runs if r.dataset.name == ds})


def _score(rec, rule) -> None:
    """Rewrite each record's test scores by ``rule(variant, dataset, seed)`` ('right', 'wrong' or
    'flat'), keeping the record consistent with its own scores."""
    for p in rec.glob("*/*/seed*.json"):
        d = json.loads(p.read_text())
        y = np.array(d["test"]["labels"])
        how = rule(d["run"]["variant"], d["run"]["dataset"], d["run"]["seed"])
        scores = (np.full(len(y), 0.5) if how == "flat" else 0.1 + 0.8 * y if how == "right" else 0.9 - 0.8 * y).tolist()
        ci = delong_ci(y, scores)
        d["test"]["scores"] = scores
        d["metrics"].update(auc=ci.auc, auc_ci_delong=ci.to_dict(), **calibration(y, scores))
        p.write_text(json.dumps(d))


@pytest.mark.slow
def test_sequential_suite_adds_splits_look_by_look(tmp_path):
    path = tmp_path / "seqtiny.yaml"
    path.write_text(SUITE)
    s = load_suite(path)
    rec = tmp_path / "records" / "seqtiny"
    first = plan(s, records_dir=rec)
    assert _seeds(first, "phantom_ct") == [0, 1, 2] == _seeds(first, "phantom_mri")  # the first look
    run_suite(s, str(path), first, records_dir=rec, log=lambda m: None)
    # make se and gc clearly better than the baseline on phantom_ct (every case ranked right, the
    # baseline none), se clearly better on phantom_mri too, and gc there all over the place (every
    # case right on even split seeds, wrong on odd ones: open whatever a tiny training does on this
    # CPU), keeping each record consistent with its own scores
    _score(rec, lambda v, ds, seed: "flat" if v == "none" else
           "right" if ds == "phantom_ct" or v == "se" or seed % 2 == 0 else "wrong")
    second = plan(s, records_dir=rec)
    assert _seeds(second, "phantom_ct") == [0, 1, 2]  # concluded at the first look: no more splits
    assert _seeds(second, "phantom_mri") == [0, 1, 2, 3, 4, 5]  # gc unresolved: the next look
    # se concluded on phantom_mri at the first look: only the baseline and gc train the next one
    todo = sorted((r.attention.key, r.seed) for r in second if r.status == "todo")
    assert todo == [("gc", 3), ("gc", 4), ("gc", 5), ("none", 3), ("none", 4), ("none", 5)], todo
    counts = run_suite(s, str(path), second, records_dir=rec, log=lambda m: None)
    assert counts["ok"] == 6
    assert sum(r.status == "todo" for r in plan(s, records_dir=rec)) == 0  # max reached: done
    board = tmp_path / "b.md"
    result = CliRunner().invoke(cli.app, ["leaderboard", str(tmp_path / "records"), "--out", str(board)])
    assert result.exit_code == 0, result.output
    text = board.read_text()
    ct = text.split("### phantom_ct")[1].split("###")[0]
    mri = text.split("### phantom_mri")[1].split("###")[0]
    assert "Sequential: look 1 of 2, on 3 splits" in ct and "stopped at look 1: every comparison concluded" in ct
    assert "| better" in ct
    assert "Sequential: look 2 of 2, on 6 splits" in mri and "stopped: the maximum of 6 splits reached" in mri
    # se kept its look-1 verdict on its 3 splits, paired with the baseline's first 3 (not marked ≠)
    se_row = next(line for line in mri.splitlines() if re.match(r"\| se +\|", line) and "better" in line)
    assert "≠" not in se_row
    assert "2 of 2 comparisons concluded" in mri or "1 of 2 comparisons concluded" in mri


def test_sequential_and_fixed_seeds_are_exclusive(tmp_path, capsys):
    from tests.test_cli import run_main

    path = tmp_path / "s.yaml"
    path.write_text(SUITE.replace("splits: {min: 3, max: 6, step: 3}", "splits: {min: 3, max: 6, step: 3}\nseeds: [0]"))
    code, out = run_main(capsys, "run", str(path), "--dry-run")
    assert code == 2 and "give seeds" in out and "not both" in out, out
    shutil.rmtree(tmp_path / "records", ignore_errors=True)


def test_a_baseline_ahead_of_every_variant_waits_for_them():
    """Mid-look, the baseline's next-look splits are recorded before its variants': its summary and
    pairing stay on the splits of the look the variants completed; a variant that went on (GC after
    SE concluded) takes the baseline with it."""
    from types import SimpleNamespace

    from medattn_bench.analysis import _sequential_window
    from medattn_bench.settings import SplitsSpec

    ok = SimpleNamespace(ok=True)
    runs = lambda n: {(s, 0): ok for s in range(n)}  # noqa: E731
    seq = SplitsSpec(min=5, max=20, step=5)
    out, windows = _sequential_window({"ct": {"none": runs(15), "se": runs(13), "gc": runs(12)}}, seq, "none")
    assert windows == {("ct", "none"): 10, ("ct", "se"): 10, ("ct", "gc"): 10}
    assert len(out["ct"]["none"]) == 10
    out, windows = _sequential_window({"skin": {"none": runs(15), "se": runs(10), "gc": runs(15)}}, seq, "none")
    assert windows == {("skin", "none"): 15, ("skin", "se"): 10, ("skin", "gc"): 15}


def test_a_check_against_a_sequential_suite_waits_for_its_look():
    """A suite checked against a sequential one (the schedule check) pairs with the splits that
    suite's board shows: a look still being trained moves neither the board nor the check."""
    from types import SimpleNamespace as NS

    from medattn_bench.analysis.claims_and_checks import _checks
    from medattn_bench.settings import StatsSpec

    rng = np.random.default_rng(0)
    labels = [0] * 20 + [1] * 20

    def rec(seed):
        scores = np.clip(rng.normal(np.array(labels) * 0.6 + 0.2, 0.2), 0, 1).tolist()
        return NS(ok=True, path=f"seed{seed}.json", metrics=NS(auc=delong_ci(labels, scores).auc), env={},
                  test=NS(ids=[f"c{i}" for i in range(40)], labels=labels, scores=scores))

    def analysis(name, seeds):
        runs = {(s, 0): rec(s) for s in seeds}
        return NS(name=name, datasets={"mri": NS(variants={"none": NS(runs=runs)}, aa_copies={})})

    # the check ran 15 splits; the board shows look 2 (10 splits), its look 3 still being trained
    here, board = analysis("schedule", range(15)), analysis("reference", range(10))
    (check,) = _checks(here, board, StatsSpec())
    assert sorted(check.there) == list(range(10))  # not the splits of look 3 already recorded elsewhere
    assert check.verdict is not None and check.verdict.n_splits == 10
    # and only the check's own splits of the board: a board that grew past the check shows no more
    (check,) = _checks(analysis("schedule", range(5)), board, StatsSpec())
    assert sorted(check.there) == sorted(check.here) == list(range(5)) and check.verdict.n_splits == 5


def test_before_its_first_look_a_sequential_suite_shows_estimates_in_progress(checks_board, tmp_path):
    """Fewer splits than the first look: every row shows its estimate over the splits recorded and
    waits, saying how far it got, in the board and in ``run``'s landed table; no row is marked as
    another protocol (its splits are not the look's because the look is not there yet)."""
    from medattn_bench.analysis import analyse
    from medattn_bench.leaderboard import render_analyses
    from medattn_bench.records import load_records, load_suite_infos

    copy = checks_board.copy(tmp_path)
    recs, problems = load_records(copy)
    infos, _ = load_suite_infos(copy)
    infos["tiny"] = infos["tiny"].model_copy(update={"seeds": None, "splits": {"min": 5, "max": 10, "step": 5}})
    (a,) = analyse(recs, infos)
    rows = [row for d in a.datasets.values() for row in d.comparisons.values()]
    assert rows and {r.variant for r in rows} == {"se", "gc"}  # the A/A copy is a check, not a row
    for r in rows:
        assert (r.outcome, r.waiting) == ("in progress", "3 of the first look's 5 split seeds recorded")
        assert not r.mixed and r.decisive.n_splits == 3 and np.isnan(r.p_adj) and not r.significant
    text = render_analyses([a], problems)
    assert text.count("| in progress: 3 of the first look's 5 split seeds recorded") == len(rows)
    assert "first look at 5 splits not reached" in text
    # one split only: no estimate yet, still in progress rather than "not tested" or another protocol
    for p in copy.rglob("seed[12]*.json"):
        p.unlink()
    recs, _ = load_records(copy)
    (a,) = analyse(recs, infos)
    rows = [row for d in a.datasets.values() for row in d.comparisons.values()]
    assert rows and all(r.outcome == "in progress" and not r.mixed and r.decisive is None for r in rows)
    assert {r.waiting for r in rows} == {"1 of the first look's 5 split seeds recorded"}


def test_a_block_short_of_its_first_look_is_shown_unjudged_beside_judged_rows(checks_board, tmp_path):
    """A block trained on fewer splits than the first look while the rest of the data set is past
    it (a submission added split by split): its row shows the estimate over the splits it shares
    with the baseline and waits; the other rows keep their verdicts."""
    from medattn_bench.analysis import analyse
    from medattn_bench.records import load_records, load_suite_infos

    copy = checks_board.copy(tmp_path)
    for p in copy.glob("tiny/phantom_ct/gc/seed2*.json"):
        p.unlink()
    recs, _ = load_records(copy)
    infos, _ = load_suite_infos(copy)
    seq = {"seeds": None, "splits": {"min": 3, "max": 3, "step": 1}}
    infos["tiny"] = infos["tiny"].model_copy(update={**seq, "family": ["se"]})  # gc: a block added later
    (a,) = analyse(recs, infos)
    ct = a.datasets["phantom_ct"]
    gc, se = ct.comparisons["gc"], ct.comparisons["se"]
    assert (gc.outcome, gc.waiting) == ("in progress", "2 of the first look's 3 split seeds recorded")
    assert not gc.mixed and gc.decisive.n_splits == 2 and np.isnan(gc.p_adj) and gc.family == 1
    assert se.outcome != "in progress" and not se.waiting and se.decisive.n_splits == 3 and np.isfinite(se.p_adj)
    assert len(ct.variants["none"].runs) == 3 and len(ct.variants["gc"].runs) == 2
    # gc one of the suite's own rows: the look is not complete, so se waits for it, saying so
    infos["tiny"] = infos["tiny"].model_copy(update={**seq, "family": ["se", "gc"]})
    (a,) = analyse(recs, infos)
    gc, se = a.datasets["phantom_ct"].comparisons["gc"], a.datasets["phantom_ct"].comparisons["se"]
    assert gc.waiting == "2 of the first look's 3 split seeds recorded" and se.outcome == "in progress"
    assert se.waiting == "its first look's split seeds are recorded; judged when the look's other rows are"


def _added_block(checks_board, tmp_path):
    """The checks board as a sequential suite (looks at 2 and 3 splits) whose own family is se, gc
    added later: on CT se concluded at the first look and gc is open there; on MRI se is open at
    the maximum and gc has no run yet. Returns the suite file, the suite and its records folder."""
    from medattn_bench.records import SuiteInfo, suite_info_path, write_suite_info
    from tests.conftest import CHECKS_BOARD

    records = checks_board.copy(tmp_path)
    rec = records / "tiny"
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text(CHECKS_BOARD.replace("seeds: [0, 1, 2]", "splits: {min: 2, max: 3, step: 1}")
                          .replace(", {name: none, label: none_b, init_offset: 1}", ""))
    s = load_suite(suite_file)
    info = SuiteInfo.model_validate_json(suite_info_path(rec).read_text())
    write_suite_info(rec, info.model_copy(update={"seeds": None, "splits": s.splits.model_dump(), "family": ["se"]}))
    # CT: se concluded at the first look (2 splits; the data set's own rows stopped there), gc open
    # (right on even split seeds, wrong on odd ones); MRI: se open at the maximum, gc not trained yet
    for p in [*rec.glob("phantom_ct/*/seed2*.json"), *rec.glob("phantom_mri/gc/*.json")]:
        p.unlink()
    _score(rec, lambda v, ds, seed: "flat" if v.startswith("none") else
           "right" if (v == "se" and ds == "phantom_ct") or seed % 2 == 0 else "wrong")
    return suite_file, s, rec


def test_a_block_added_later_goes_look_by_look_in_its_own_family(checks_board, tmp_path):
    """A block added after the suite first ran trains its own looks, wherever the data set's own
    comparisons stopped: its first look only (not every split the baseline has), and one more look
    while it is open, the baseline trained with it even where its own rows had stopped."""
    _, s, rec = _added_block(checks_board, tmp_path)
    todo = sorted((r.dataset.name, r.attention.key, r.seed) for r in plan(s, records_dir=rec) if r.status == "todo")
    assert todo == [("phantom_ct", "gc", 2), ("phantom_ct", "none", 2), ("phantom_mri", "gc", 0),
                    ("phantom_mri", "gc", 1)], todo


def test_run_says_whether_another_look_is_due(checks_board, tmp_path, monkeypatch, capsys):
    """After a sequential suite's runs, ``run`` says what the next look would train (so the user
    knows to run the same command again) or that nothing is left."""
    import medattn_bench.runner as runner
    from tests.test_cli import run_main

    suite_file, _, rec = _added_block(checks_board, tmp_path)
    # se on CT concluded at the first look: nothing left in that selection (and nothing trained)
    code, out = run_main(capsys, "run", str(suite_file), "--records", str(rec), "--only", "dataset=phantom_ct",
                         "--only", "attention=se")
    assert code == 0 and "Nothing left to train (within --only): every comparison has concluded or reached 3 " \
        "splits" in out, out
    # a run that recorded something (training stubbed): the open comparisons' next look is named
    monkeypatch.setattr(runner, "run_suite", lambda *a, **k: {"ok": 1, "failed": 0, "skipped": 0, "left_alone": 0})
    code, out = run_main(capsys, "run", str(suite_file), "--records", str(rec), "--only", "dataset=phantom_ct")
    assert code == 0 and "Still to train (within --only): 2 run(s), the next look of the comparisons still open " \
        "on phantom_ct: run the same command again" in out, out
