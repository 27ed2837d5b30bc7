"""The submission path end to end: an author bundles a block's records, a maintainer re-trains a
sample with `verify` and accepts them, and the board marks the row from what it can check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.leaderboard import render
from medattn_bench.records import load_records, load_suite_infos
from medattn_bench.runner import plan, run_suite
from medattn_bench.records.submission import marks
from medattn_bench.suite import load_suite
from tests.test_cli import run_main

runner = CliRunner()
pytestmark = pytest.mark.slow  # the shared trained board, a block trained and re-trained: make test-slow, run by CI

ADD = ["attention+=[{name: eca}]"]


def _train(path: Path, folder: Path, sets: list[str], only: list[str] = ()) -> None:
    from medattn_bench.runner import parse_only

    s = load_suite(path, sets)
    run_suite(s, str(path), plan(s, parse_only(list(only)), folder), sets, records_dir=folder, log=lambda m: None)


def _board(root: Path) -> str:
    recs, _ = load_records(root)
    infos, _ = load_suite_infos(root)
    found, problems = marks(recs, {n: Path(i.folder) for n, i in infos.items()})
    assert not problems
    return render(recs, infos, marks=found)


@pytest.fixture(scope="module")
def trained(tiny_board, tmp_path_factory):
    """The board's suite (none, se, gc) and an author's copy of it with the block eca added."""
    tmp = tmp_path_factory.mktemp("submission")
    author = tiny_board.copy(tmp / "author") / "tinyboard"
    _train(tiny_board.suite_file, author, ADD, ["dataset=phantom_ct"])  # the block on one data set: 3 runs
    return tmp, tiny_board.records / "tinyboard", author


def test_submit_review_accept_and_the_board_marks_the_row(trained, tmp_path):
    tmp, board0, author = trained
    board = tmp_path / "board" / "tinyboard"
    shutil.copytree(board0, board)
    bundle = tmp_path / "bundle"
    res = runner.invoke(cli.app, ["submit", str(author), "--attention", "eca", "--out", str(bundle)])
    assert res.exit_code == 0, res.output
    sub = json.loads((bundle / "submission.json").read_text())
    assert sub["block"] == "eca" and sub["suite"] == "tinyboard" and len(sub["records"]) == 3
    assert sub["source_sha256"] and all(len(e["sha256"]) == 64 for e in sub["records"])
    assert sorted(p.name for p in (bundle / "tinyboard" / "phantom_ct" / "eca").iterdir()) == [
        "seed0.json", "seed1.json", "seed2.json"]
    assert not (bundle / "tinyboard" / "phantom_ct" / "se").exists()  # only the block's records travel

    res = runner.invoke(cli.app, ["review", str(bundle), "--sample", "1", "--accept", str(board.parent)])
    assert res.exit_code == 0, res.output
    assert "identical" in res.output and "re-trained 1 of 3: consistent" in res.output
    assert res.output.splitlines()[0].startswith(str(bundle)) and "schema_version" not in res.output
    check = json.loads((bundle / "check.json").read_text())
    assert check["sampled"] == 1 and check["of"] == 3 and check["results"][0]["verdict"] == "identical"
    assert (board / ".submissions" / "eca" / "check.json").is_file()
    assert len(list((board / "phantom_ct" / "eca").glob("seed*.json"))) == 3

    text = _board(board.parent)
    assert "Submitted rows" in text and "eca (" in text and text.count("re-trained 1 of 3: consistent on") == 1

    # a record changed after the check: the row is no longer verified, and says why
    victim = board / "phantom_ct" / "eca" / "seed1.json"
    victim.write_text(json.dumps(json.loads(victim.read_text()), indent=2) + "\n")
    text = _board(board.parent)
    assert "re-trained 1 of 3" not in text
    assert "unverified: 1 of 3 records differ from the submission" in text


def test_an_added_row_without_a_submission_is_marked_unverified(trained):
    _, _, author = trained
    text = _board(author.parent)
    assert "eca: unverified: not submitted" in text
    assert "se: unverified" not in text  # the suite's own rows are the board's, not submissions


def test_a_bundle_edited_after_submit_is_refused_in_one_line(trained, tmp_path, capsys):
    _, _, author = trained
    bundle = tmp_path / "bundle"
    assert run_main(capsys, "submit", str(author), "--attention", "eca", "--out", str(bundle))[0] in (0, None)
    rec = bundle / "tinyboard" / "phantom_ct" / "eca" / "seed0.json"
    rec.write_text(rec.read_text() + " ")
    code, out = run_main(capsys, "review", str(bundle), "--sample", "1")
    assert code == 2 and "changed after it was bundled" in out and "Traceback" not in out and len(out.splitlines()) == 1
    assert not (bundle / "check.json").exists()
    code, out = run_main(capsys, "submit", str(author), "--attention", "eca", "--out", str(bundle))
    assert code == 2 and "not an empty folder" in out  # never written over
    code, out = run_main(capsys, "submit", str(author), "--attention", "nope", "--out", str(tmp_path / "b2"))
    assert code == 2 and "blocks there: eca, gc, none, se" in out and not (tmp_path / "b2").exists()


def test_a_check_of_another_submission_does_not_verify(trained, tmp_path):
    tmp, board0, author = trained
    board = tmp_path / "board" / "tinyboard"
    shutil.copytree(board0, board)
    bundle = tmp_path / "bundle"
    assert runner.invoke(cli.app, ["submit", str(author), "--attention", "eca", "--out", str(bundle)]).exit_code == 0
    assert runner.invoke(cli.app, ["review", str(bundle), "--sample", "1", "--accept", str(board.parent)]).exit_code == 0
    kept = board / ".submissions" / "eca" / "submission.json"
    sub = json.loads(kept.read_text())
    sub["version"] = "9.9"  # the submission text changed after its check
    kept.write_text(json.dumps(sub))
    assert "unverified: its check was made of another submission" in _board(board.parent)


@pytest.mark.parametrize("field,value", [("suite", "../../elsewhere"), ("block", "../x"),
                                         ("records.0.file", "../../../etc/passwd.json"),
                                         ("records.0.file", "/abs/eca/seed0.json")])
def test_names_in_a_submission_never_leave_its_folder(trained, tmp_path, capsys, field, value):
    _, _, author = trained
    bundle = tmp_path / "bundle"
    assert run_main(capsys, "submit", str(author), "--attention", "eca", "--out", str(bundle))[0] in (0, None)
    sub = json.loads((bundle / "submission.json").read_text())
    *head, last = field.split(".")
    target = sub
    for k in head:
        target = target[int(k)] if k.isdigit() else target[k]
    target[last] = value
    (bundle / "submission.json").write_text(json.dumps(sub))
    code, out = run_main(capsys, "review", str(bundle), "--sample", "1", "--accept", str(tmp_path / "board"))
    assert code == 2 and "submission.json" in out and "String should match pattern" in out
    assert not (tmp_path / "board").exists() and not (bundle / "check.json").exists()


def test_a_damaged_submission_file_is_named_and_its_row_stays_unverified(trained, tmp_path):
    _, _, author = trained
    root = tmp_path / "records"
    shutil.copytree(author.parent, root)
    keep = root / "tinyboard" / ".submissions" / "eca"
    keep.mkdir(parents=True)
    (keep / "submission.json").write_text("{not json")
    recs, _ = load_records(root)
    infos, _ = load_suite_infos(root)
    found, problems = marks(recs, {n: Path(i.folder) for n, i in infos.items()})
    assert found == {} and len(problems) == 1 and "submission.json" in problems[0] and "not shown" in problems[0]
    assert "eca: unverified: not submitted" in render(recs, infos, marks=found)
    # a .submissions folder that is a link is not followed
    shutil.rmtree(root / "tinyboard" / ".submissions")
    (root / "tinyboard" / ".submissions").symlink_to(tmp_path)
    assert marks(recs, {n: Path(i.folder) for n, i in infos.items()}) == ({}, [])
