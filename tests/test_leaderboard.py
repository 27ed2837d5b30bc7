import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.leaderboard import render
from medattn_bench.results import load_records
from medattn_bench.runner import SuiteRunner, plan
from medattn_bench.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

TINY = """\
name: tiny
description: tiny test suite
datasets:
  - {name: phantom_ct, options: {n_per_class: 20, size: 16}}
  - {name: phantom_mri, options: {n_per_class: 20, size: 16}}
attention: [{name: none}, {name: se}, {name: gc}]
seeds: [0, 1]
train: {epochs: 2, batch_size: 8, image_size: 16, lr: 0.01}
eval: {stats: {n_resamples: 300}, cost: {throughput: true, repeats: 1, warmup: 0}}
"""


@pytest.fixture(scope="module")
def tiny_records(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("lb")
    path = tmp / "tiny.yaml"
    path.write_text(TINY)
    s = load_suite(path)
    rec = tmp / "records" / "tiny"
    SuiteRunner(s, "tiny.yaml", progress=False, log=lambda m: None).run(plan(s, records_dir=rec))
    return tmp / "records"


def test_committed_board_equals_fresh_render():
    records = ROOT / "leaderboard" / "records"
    board = ROOT / "leaderboard" / "README.md"
    assert board.is_file() and records.is_dir(), "leaderboard/README.md and leaderboard/records must be committed"
    recs, problems = load_records(records)
    assert recs and not problems, problems
    assert board.read_text() == render(recs, problems), "stale board: run `make leaderboard` and commit it"


def test_render_is_deterministic_and_complete(tiny_records):
    recs, problems = load_records(tiny_records)
    text = render(recs, problems)
    assert text == render(list(reversed(recs)), problems)
    assert "## Suite `tiny`" in text and "### phantom_ct" in text and "### phantom_mri" in text
    table = text.split("### phantom_ct")[1].split("###")[0]
    se_row = next(line for line in table.splitlines() if line.startswith("| se "))
    # Per-seed AUC with CI, mean ± sd, Δ with CI, adjusted p, params and GMACs.
    assert re.search(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", se_row)
    assert re.search(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]", se_row)
    assert "±" in se_row and "11.2" in se_row
    assert "holm correction over 4 comparisons" in text
    assert "Train img/s (cpu" in text and "Mean rank" in text
    assert "smallest two-sided p is 0.500" in text


def test_corrupt_record_is_reported_not_fatal(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    (copy / "tiny" / "phantom_ct" / "se" / "seed9.json").write_text("{ not json")
    result = runner.invoke(cli.app, ["leaderboard", str(copy), "--out", str(tmp_path / "board.md")])
    assert result.exit_code == 0, result.output
    board = (tmp_path / "board.md").read_text()
    assert "## Skipped records" in board and "seed9.json: skipped: unreadable" in board
    assert "### phantom_ct" in board


def test_mixed_protocol_rows_are_marked_and_not_ranked(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    for p in (copy / "tiny" / "phantom_ct" / "gc").glob("*.json"):
        rec = json.loads(p.read_text())
        rec["protocol_hash"] = "other"  # e.g. trained with other epochs
        p.write_text(json.dumps(rec))
    recs, _ = load_records(copy)
    strict = render(recs)
    assert "| gc ≠" in strict and "not ranked: protocol differs" in strict
    assert "holm correction over 3 comparisons" in strict
    mixed = render(recs, allow_mixed=True)
    assert "not ranked" not in mixed and "over 4 comparisons" in mixed


def test_compare_command(tiny_records):
    result = runner.invoke(cli.app, ["compare", str(tiny_records), "--a", "se", "--b", "none", "--dataset", "phantom_ct"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "suite tiny, data set phantom_ct: se vs none" in out
    assert re.search(r"^0 +\d+", out, re.M) and re.search(r"^1 +\d+", out, re.M) and "pooled" in out
    assert "BCa" in out and "p DeLong" in out


def test_compare_refuses_unpairable_records(tiny_records, tmp_path):
    copy = tmp_path / "records"
    shutil.copytree(tiny_records, copy)
    p = copy / "tiny" / "phantom_ct" / "se" / "seed0.json"
    rec = json.loads(p.read_text())
    rec["test"]["ids"] = list(reversed(rec["test"]["ids"]))
    p.write_text(json.dumps(rec))
    from medattn_bench.compare import compare_report
    from medattn_bench.errors import RecordError

    with pytest.raises(RecordError, match="tested on different cases"):
        compare_report(copy, "se", "none", "phantom_ct")
