import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.leaderboard import render
from medattn_bench.records import load_records, load_suite_infos, read_record
from medattn_bench.runner import plan, run_suite
from medattn_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_records(checks_board) -> Path:
    """The shared checks board (conftest): suite ``tiny``, its suite file beside the records root."""
    return checks_board.records


def _render(folder: Path, **kw) -> str:
    recs, problems = load_records(folder)
    infos, _ = load_suite_infos(folder)
    return render(recs, infos, problems, **kw)


@pytest.mark.slow
def test_committed_board_equals_fresh_render():
    records = ROOT / "leaderboard" / "records"
    board = ROOT / "leaderboard" / "README.md"
    assert board.is_file() and records.is_dir(), "leaderboard/README.md and leaderboard/records must be committed"
    result = runner.invoke(cli.app, ["leaderboard", str(records), "--out", str(board), "--html",
                                     str(ROOT / "leaderboard" / "index.html"), "--check"])
    assert result.exit_code == 0, "stale board: run `make leaderboard` and commit it\n" + result.output


def test_render_is_deterministic_and_complete(tiny_records):
    recs, problems = load_records(tiny_records)
    infos, _ = load_suite_infos(tiny_records)
    text = render(recs, infos, problems)
    assert text == render(list(reversed(recs)), infos, problems)
    assert "## Suite `tiny`" in text and "### phantom_ct" in text and "### phantom_mri" in text
    table = text.split("### phantom_ct")[1].split("###")[0]
    auc_row = next(line for line in table.splitlines() if line.startswith("| se "))
    assert re.search(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", auc_row) and "±" in auc_row  # per-seed AUC [CI], mean ± sd
    verdict_row = [line for line in table.splitlines() if line.startswith("| se ")][1]
    assert re.search(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]", verdict_row)
    assert "mean of the per-split paired ΔAUC" in text and "Hartung-Knapp" in text  # decisive, second opinion
    assert "Holm-adjusted p < 0.05 (over 4 comparisons" in text  # se, gc on two data sets
    assert "Power: with 3 splits" in text and "Train img/s" in text and "Mean rank" in text
    assert "smallest two-sided p is 0.500" in text


def test_aa_copy_is_a_check_not_a_row(tiny_records):
    text = _render(tiny_records)
    assert "### A/A check" in text
    aa = text.split("### A/A check")[1].split("### Across")[0]
    assert re.search(r"\| phantom_ct +\| none_b +\| 3 +\| 1 × 2 splits", aa)
    assert "| none_b" not in text.split("### A/A check")[0]  # no leaderboard row, no rank
    seq = aa.split("**Over all looks of a sequential suite** (looks at 2, 3 splits)")[1]
    # 0/1: Clopper-Pearson [0.00, 0.97]; 1/1: [0.03, 1.00] (which one depends on the CPU's arithmetic)
    row = re.search(r"\| phantom_ct +\| none_b +\| 1 × 3 splits +\| ([01])/1 = [01].00 \[(?:0.00, 0.97|0.03, 1.00)\] +\| ([01])/1 +\| ([23]).0", seq)
    assert row and int(row[1]) + int(row[2]) <= 1, seq  # a block stops once: rejected, equivalent, or neither
    assert row[3] == "3" or row[1] == "1" or row[2] == "1", seq  # stopped early only when it concluded


def test_suite_settings_reach_the_board_without_retraining(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    info_path = copy / "tiny" / "suite.json"
    info = json.loads(info_path.read_text())
    info["file"] = "does-not-exist.yaml"
    info["description"] = "A NEW DESCRIPTION"
    info["stats"]["correction"] = "bonferroni"
    info_path.write_text(json.dumps(info))
    text = _render(copy)
    assert "A NEW DESCRIPTION" in text and "Bonferroni-adjusted" in text and "p (bonferroni)" in text


def test_a_changed_suite_file_refreshes_suite_json_on_render_but_not_on_check_or_export(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text((tiny_records.parent / "tiny.yaml").read_text().replace("description: tiny test suite",
                                                                                 "description: A CHANGED SUITE FILE"))
    info_path = copy / "tiny" / "suite.json"
    info = json.loads(info_path.read_text())
    info["file"] = str(suite_file)
    info_path.write_text(json.dumps(info))
    before = info_path.read_text()
    board = tmp_path / "board.md"
    for args in (["leaderboard", str(copy), "--out", str(board), "--check"],
                 ["export", str(copy), "--out", str(tmp_path / "tables")]):
        runner.invoke(cli.app, args)
        assert info_path.read_text() == before, args  # read only
    result = runner.invoke(cli.app, ["leaderboard", str(copy), "--out", str(board)])
    assert result.exit_code == 0, result.output
    assert "A CHANGED SUITE FILE" in board.read_text()
    assert json.loads(info_path.read_text())["description"] == "A CHANGED SUITE FILE"


def test_corrupt_and_invalid_records_are_reported_not_fatal(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    (copy / "tiny" / "phantom_ct" / "se" / "seed9.json").write_text("{ not json")
    bad = json.loads((copy / "tiny" / "phantom_ct" / "se" / "seed0.json").read_text())
    del bad["time"]
    (copy / "tiny" / "phantom_ct" / "se" / "seed8.json").write_text(json.dumps(bad))
    result = runner.invoke(cli.app, ["leaderboard", str(copy), "--out", str(tmp_path / "board.md")])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "board.md").read_text()
    assert "## Records not used" in board and "seed9.json: skipped: unreadable" in board
    assert "seed8.json: skipped: invalid record: time: Field required" in board
    assert "### phantom_ct" in board and (tmp_path / "figures" / "tiny-forest.svg").is_file()


def test_mixed_protocol_rows_are_marked_and_not_ranked(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    for p in (copy / "tiny" / "phantom_ct" / "gc").glob("*.json"):
        rec = json.loads(p.read_text())
        rec["protocol_hash"] = "other"  # e.g. trained with other epochs
        p.write_text(json.dumps(rec))
    strict = _render(copy)
    assert "| gc ≠" in strict and "not ranked: protocol differs" in strict
    assert "over 3 comparisons" in strict
    mixed = _render(copy, allow_mixed=True)
    assert "not ranked" not in mixed and "over 4 comparisons" in mixed


def test_compare_command(tiny_records):
    result = runner.invoke(cli.app, ["compare", str(tiny_records), "--a", "se", "--b", "none", "--dataset", "phantom_ct"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "suite tiny, data set phantom_ct: se vs none" in out
    assert re.search(r"^0 +\d+", out, re.M) and re.search(r"^2 +\d+", out, re.M)
    assert "Hartung-Knapp" in out and "split bootstrap" in out and "conditional on these trained models" in out
    assert "mean of per-split ΔAUC, t over splits" in out


def test_compare_refuses_unpairable_records(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    p = copy / "tiny" / "phantom_ct" / "se" / "seed0.json"
    rec = json.loads(p.read_text())
    rec["test"]["ids"] = list(reversed(rec["test"]["ids"]))
    p.write_text(json.dumps(rec))
    from medattn_bench.compare import compare_report
    from medattn_bench.errors import RecordError
    from medattn_bench.suite import canonical_hash

    # ids changed after the run: the record contradicts its own data.test_ids_hash, is named, not used
    warned = []
    compare_report(copy, "se", "none", "phantom_ct", warn=warned.append)
    assert any("seed0.json" in w and "test_ids_hash" in w for w in warned), warned
    # a record consistent in itself but tested on other cases (here: another order) cannot be paired
    rec["data"]["test_ids_hash"] = canonical_hash(rec["test"]["ids"])
    p.write_text(json.dumps(rec))
    with pytest.raises(RecordError, match="tested on different cases"):
        compare_report(copy, "se", "none", "phantom_ct")


def test_migrate_v1_keeps_metrics_and_plans_as_done(tiny_records, tmp_path):
    """A schema-1 record (the first record format) migrates to one the planner counts as done."""
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    p = copy / "tiny" / "phantom_mri" / "none" / "seed1.json"
    v2 = json.loads(p.read_text())
    v1 = {k: v for k, v in v2.items() if k not in ("schema", "suite", "time", "metrics", "run", "config", "config_hash")}
    cfg = json.loads(json.dumps(v2["config"]))
    del cfg["split"]["folds"], cfg["split"]["patient_groups"], cfg["attention"]["init_offset"], cfg["init_seed"]
    v1.update(schema=1, suite={"name": "tiny", "file": "tiny.yaml", "description": "old words"},
              stats_settings={"n_resamples": 500, "hierarchical": False}, config=cfg, config_hash="x",
              run={k: v for k, v in v2["run"].items() if k != "init_seed"},
              metrics={"auc": v2["metrics"]["auc"], "auc_ci_delong": v2["metrics"]["auc_ci_delong"],
                       "auc_ci_bootstrap": {}, "n_test": v2["metrics"]["n_test"], "n_pos": v2["metrics"]["n_pos"]},
              time={k: v2["time"][k] for k in ("started", "finished", "wall_s")}, time_train_s=1.0)
    p.write_text(json.dumps(v1))
    with pytest.raises(ValueError, match="records migrate"):
        read_record(p)
    suite = load_suite(tiny_records.parent / "tiny.yaml")
    # before migration the planner leaves it alone (never redoes a finished run of an old schema)
    assert next(s for s in plan(suite, records_dir=copy / "tiny") if s.path == str(p)).status == "old"
    result = runner.invoke(cli.app, ["records", "migrate", str(copy)])
    assert result.exit_code == 0 and "migrated 1 record(s)" in result.output, result.output
    rec = read_record(p)
    assert rec.metrics.auc == v2["metrics"]["auc"] and rec.metrics.ece == pytest.approx(v2["metrics"]["ece"])
    suite = load_suite(tiny_records.parent / "tiny.yaml")
    spec = next(s for s in plan(suite, records_dir=copy / "tiny") if s.path == str(p))
    assert spec.status == "done" and rec.config_hash == spec.config_hash


def test_paper_claims_section(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    info_path = copy / "tiny" / "suite.json"
    info = json.loads(info_path.read_text())
    info["file"] = "does-not-exist.yaml"  # keep this suite.json as written
    info["paper_reference"] = {"phantom_ct": {"none": 80.0, "se": 90.0, "gc": 79.0}}
    info_path.write_text(json.dumps(info))
    text = _render(copy)
    section = text.split("### The paper's claims: reported beside reproduced")[1].split("###")[0]
    assert re.search(r"\| phantom_ct +\| se +\| 90\.00 vs 80\.00 \(\+10\.00\)", section)
    assert re.search(r"\| phantom_ct +\| gc +\| 79\.00 vs 80\.00 \(-1\.00\)", section)
    assert "Of 2 claims:" in section and "phantom_mri" not in section


def test_check_against_compares_the_same_splits(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records / "tiny", copy / "tiny")
    shutil.copytree(tiny_records / "tiny", copy / "tiny_long")
    for p in (copy / "tiny_long").rglob("seed*.json"):
        rec = json.loads(p.read_text())
        rec["suite"] = "tiny_long"
        if "/gc/" in str(p):  # a worse recipe there: scores reversed
            rec["test"]["scores"] = [1 - x for x in rec["test"]["scores"]]
            rec["metrics"]["auc"] = 1 - rec["metrics"]["auc"]
        p.write_text(json.dumps(rec))
    info = json.loads((copy / "tiny_long" / "suite.json").read_text())
    info.update(name="tiny_long", file="does-not-exist.yaml")
    (copy / "tiny_long" / "suite.json").write_text(json.dumps(info))
    info = json.loads((copy / "tiny" / "suite.json").read_text())
    info.update(file="does-not-exist.yaml", check_against="tiny_long")
    (copy / "tiny" / "suite.json").write_text(json.dumps(info))
    text = _render(copy)
    section = text.split("### Against suite `tiny_long` on the same splits")[1].split("###")[0]
    none_row = next(line for line in section.splitlines() if re.match(r"\| phantom_ct +\| none ", line))
    assert none_row.count("| yes") == 2 and "+0.0 [+0.0, +0.0]" in none_row
    gc_row = next(line for line in section.splitlines() if re.match(r"\| phantom_ct +\| gc ", line))
    here = [json.loads(p.read_text())["metrics"]["auc"] for p in sorted((copy / "tiny" / "phantom_ct" / "gc").glob("seed*.json"))]
    there = [1 - x for x in here]
    flags = re.findall(r"\| (yes|no) ", gc_row)
    expect = [min(here) <= sum(there) / 3 <= max(here), min(there) <= sum(here) / 3 <= max(there)]
    assert flags == ["yes" if e else "no" for e in expect]
    assert "### Against suite" not in text.split("## Suite `tiny_long`")[1]
    # the other suite grew past the check (here split 2 is gone): only the check's splits are shown
    for p in (copy / "tiny" / "phantom_ct").rglob("seed2.json"):
        p.unlink()
    section = _render(copy).split("### Against suite `tiny_long` on the same splits")[1].split("###")[0]
    none_row = next(line for line in section.splitlines() if re.match(r"\| phantom_ct +\| none ", line))
    cells = [c.strip() for c in none_row.split("|")[1:-1]]
    assert cells[2].startswith("0: ") and cells[4].startswith("0: ") and "2: " not in cells[4], cells
    assert cells[2].count(": ") == cells[4].count(": ") == 2


def test_committed_records_are_what_their_suite_files_plan():
    """Every committed record is a run its suite file (with the recorded --set overrides) plans, with
    the same config hash: a suite edit that would silently re-train committed rows fails here."""
    infos, problems = load_suite_infos(ROOT / "leaderboard" / "records")
    assert not problems and infos
    for name, info in infos.items():
        folder = ROOT / "leaderboard" / "records" / name
        s = load_suite(ROOT / info.file, list(info.overrides))
        status = {Path(r.path).resolve(): r.status for r in plan(s, records_dir=folder)}
        for path in folder.rglob("seed*.json"):
            assert status.get(path.resolve()) == "done", f"{path.relative_to(ROOT)}: {status.get(path.resolve(), 'not planned')} under {info.file}"


def test_claims_follow_the_board_order_whatever_the_reference_order(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    info_path = copy / "tiny" / "suite.json"
    texts = []
    for ref in ({"none": 80.0, "se": 90.0, "gc": 79.0}, {"gc": 79.0, "se": 90.0, "none": 80.0}):
        info = json.loads(info_path.read_text())
        info.update(file="does-not-exist.yaml", paper_reference={"phantom_ct": ref})
        info_path.write_text(json.dumps(info))
        texts.append(_render(copy))
    assert texts[0] == texts[1]


def test_board_says_what_the_verdicts_alpha_refers_to(tiny_records):
    """Stratified split seeds share test cases: the board says the verdicts are about the recipes on
    this data set, with the simulated rate for new patients at its split count; one repeat of
    disjoint folds, repeated folds and an official test set are described for what they are."""
    from types import SimpleNamespace

    from medattn_bench.leaderboard import POPULATION_FPR, _overlap_prose

    def prose(kinds, n):
        row = SimpleNamespace(decisive=SimpleNamespace(n_splits=n))
        return _overlap_prose(SimpleNamespace(provenance={"split_kinds": kinds},
                                              datasets={"d": SimpleNamespace(comparisons={"v": row})}))

    assert "the verdicts' α is about the recipes on this data set" in _render(tiny_records)
    lo, hi = POPULATION_FPR["stratified"][20]
    assert f"rejected in {lo:.0f}-{hi:.0f} % with 20 splits" in prose(["stratified"], 20)
    assert "with about 10 splits" in prose(["stratified"], 9)
    one = prose(["kfold"], 5)
    assert "disjoint folds of one repeat" in one and "new patients" in one and "does not depend on the training" in one
    again = prose(["kfold"], 10)
    assert "repeated" in again and "with 10 splits" in again
    assert "official test set" in prose(["official"], 5)
    mixed = prose(["kfold", "stratified"], 5)
    assert "this data set" in mixed and "only with one repeat of the folds" in mixed


def test_an_aa_only_suite_has_no_table_across_data_sets(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    assert "### Across data sets" in _render(copy)
    for ds in ("phantom_ct", "phantom_mri"):
        for v in ("se", "gc"):
            shutil.rmtree(copy / "tiny" / ds / v)
    text = _render(copy)
    assert "none_b" in text and "### Across data sets" not in text  # only the baseline would be left to rank


def _edge(x: float) -> float:
    """``x`` moved onto a rounding edge: its first three significant digits, then a 5 (0.2283 ->
    0.2285, shown as 22.9 or 22.8 points at one decimal, depending on the last bit)."""
    import math

    if not math.isfinite(x) or x == 0:
        return x
    e = math.floor(math.log10(abs(x))) - 2
    return math.copysign(round(abs(x) / 10 ** e) * 10 ** e + 0.5 * 10 ** e, x)


def _renders_on_edge(folder: Path, tmp_path: Path, direction: float, stable: bool) -> tuple[str, str, str]:
    """Markdown, page and export rows of ``folder``'s board with every statistic on a rounding edge
    and then one ulp up (direction +inf) or down (-inf), as two CPUs' last bits could leave it."""
    import numpy as np

    from medattn_bench.analysis import analyse_suite, group
    from medattn_bench.export import comparison_rows, run_rows
    from medattn_bench.leaderboard import render_analyses
    from medattn_bench.page import render_page
    from medattn_bench.stable import map_floats, stabilise

    recs, problems = load_records(folder)
    infos, _ = load_suite_infos(folder)
    grouped = group(recs)
    analyses = [map_floats(analyse_suite(n, grouped[n], infos.get(n)), lambda x: float(np.nextafter(_edge(x), direction)))
                for n in sorted(grouped)]
    if stable:
        analyses = [stabilise(a) for a in analyses]
    rows = json.dumps([run_rows(analyses), comparison_rows(analyses)], default=str)
    return render_analyses(analyses, problems), render_page(analyses, {}, tmp_path), rows


def test_board_does_not_depend_on_the_last_bits_of_its_statistics(tiny_records, tmp_path):
    """Two machines whose numpy sums in another order differ in a statistic's last bit; with every
    statistic on a rounding edge, the board, the page and the exports still come out the same."""
    up = _renders_on_edge(tiny_records, tmp_path, np.inf, stable=True)
    down = _renders_on_edge(tiny_records, tmp_path, -np.inf, stable=True)
    for a, b, what in zip(up, down, ("markdown", "page", "exports")):
        assert a == b, what
    # the check has teeth: without the analysis's rounding the markdown differs (the page and the
    # exports round their own numbers too)
    raw_up = _renders_on_edge(tiny_records, tmp_path, np.inf, stable=False)
    raw_down = _renders_on_edge(tiny_records, tmp_path, -np.inf, stable=False)
    assert raw_up[0] != raw_down[0]


def test_a_variant_whose_runs_come_from_another_machine_gets_no_verdict(tiny_records, tmp_path):
    """A block trained on another CPU than its baselines (a plugin author's machine): the pairing
    would measure the machine as much as the block, so its row shows no verdict and says why; the
    other rows and their adjusted p are computed as before."""
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    before = {(a.name, ds, v): (r.outcome, r.p_adj) for a in _analyses(copy) for ds, d in a.datasets.items()
              for v, r in d.comparisons.items()}
    for p in (copy / "tiny").glob("*/gc/seed*.json"):
        d = json.loads(p.read_text())
        d["env"]["device"]["name"] = "Elsewhere CPU 9000"
        p.write_text(json.dumps(d))
    after = _analyses(copy)
    for a in after:
        for ds, d in a.datasets.items():
            gc = d.comparisons["gc"]
            assert gc.outcome == "not judged" and gc.decisive is None and "Elsewhere CPU 9000" in gc.unjudged
            assert "se" in d.comparisons and d.comparisons["se"].outcome == before[(a.name, ds, "se")][0]
    text = _render(copy)
    assert "not judged: its runs come from Elsewhere CPU 9000" in text and "train the baseline on that machine" in text


def _analyses(folder):
    from medattn_bench.analysis import analyse

    recs, _ = load_records(folder)
    infos, _ = load_suite_infos(folder)
    return [a for a in analyse(recs, infos) if a.name == "tiny"]


def test_board_gives_cpu_time_beside_wall_time_and_says_how_many_runs_record_it(tiny_records, tmp_path):
    """A run paused by its owner keeps counting wall time but not CPU time; records written before
    CPU time was recorded have none, and the board says over how many runs its sum goes."""
    recs, _ = load_records(tiny_records)
    assert recs and all(r.time.cpu_s is not None and r.time.cpu_s > 0 for r in recs)
    line = next(s for s in _render(tiny_records).splitlines() if "h of run wall time" in s)
    assert "core-hours of CPU time" in line and "runs that record it" not in line
    folder = tmp_path / "records"
    shutil.copytree(tiny_records, folder)
    older = sorted(folder.rglob("seed*.json"))[0]
    raw = json.loads(older.read_text())
    del raw["time"]["cpu_s"]
    older.write_text(json.dumps(raw))
    again, problems = load_records(folder)
    assert not problems and sum(r.time.cpu_s is None for r in again) == 1
    line = next(s for s in _render(folder).splitlines() if "h of run wall time" in s)
    assert f"over the {len(recs) - 1} runs that record it" in line
