"""Records are untrusted input, and finished work is never destroyed unasked: a corpus of damaged,
forged, duplicated and misfiled records, path escapes, concurrent writers and debris from killed
writers, each kept to one readable line or a named exclusion."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.errors import MedattnError
from medattn_bench.records import load_records, read_record
from medattn_bench.runner import FolderLock, plan, run_suite
from medattn_bench.suite import load_suite
from medattn_bench.records.trust import auc_of, record_problems, vet

runner = CliRunner()

SUITE = """\
name: trust
datasets:
  - {name: phantom_ct, options: {n_per_class: 20, size: 16}}
attention: [{name: none}, {name: se}]
seeds: [0, 1, 2]
train: {epochs: 2, batch_size: 8, image_size: 16, lr: 0.01}
eval: {stats: {n_resamples: 200}, cost: {throughput: false}, cam: {localisation: false}}
"""


@pytest.fixture
def clean(boards) -> Path:
    """A records root holding one intact suite folder (conftest's ``boards``: trained once)."""
    return boards(SUITE).records


@pytest.fixture
def records(clean, tmp_path) -> Path:
    copy = tmp_path / "records"
    shutil.copytree(clean, copy)
    return copy


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _unused(folder: Path) -> dict[str, str]:
    recs, problems = load_records(folder)
    assert not problems
    _, unused, _ = vet(recs)
    return {Path(u.path).relative_to(folder).as_posix(): u.reason for u in unused}


def test_intact_records_pass_and_the_auc_check_matches_an_oracle(clean):
    from sklearn.metrics import roc_auc_score

    recs, _ = load_records(clean)
    assert len(recs) == 6 and all(record_problems(r) == [] for r in recs)
    r = recs[0]
    assert auc_of(r.test.labels, r.test.scores) == pytest.approx(roc_auc_score(r.test.labels, r.test.scores), abs=1e-12)


CASES = {
    "forged auc": (lambda d: d["metrics"].update(auc=0.75), "differs from the AUC of its own labels and scores"),
    "nan auc": (lambda d: d["metrics"].update(auc=float("nan")), "is not an AUC in [0, 1]"),
    "auc 7.5": (lambda d: d["metrics"].update(auc=7.5), "is not an AUC in [0, 1]"),
    "short scores": (lambda d: d["test"].update(scores=d["test"]["scores"][:-2]), "differ in length"),
    "nan score": (lambda d: d["test"]["scores"].__setitem__(0, float("nan")), "NaN or inf"),
    "label 5": (lambda d: d["test"]["labels"].__setitem__(0, 5), "labels must be 0/1"),
    "score above 1": (lambda d: d["test"]["scores"].__setitem__(0, 1.5), "probabilities in [0, 1]"),
    "forged ece": (lambda d: d["metrics"].update(ece=0.0), "metrics.ece"),
    "config edited": (lambda d: d["config"]["train"].update(epochs=50), "config_hash"),
    "run fields edited": (lambda d: d["run"].update(seed=7), "run.seed 7 disagrees with its config"),
    "suite renamed": (lambda d: d.update(suite="other"), "sits in the folder of suite 'trust'"),
    "test ids swapped": (lambda d: d["test"].update(ids=d["test"]["ids"][1:] + d["test"]["ids"][:1]),
                         "not the ones its data.test_ids_hash names"),
}


def test_a_suite_json_whose_name_is_not_a_string_condemns_no_record(records, tmp_path, capsys):
    """A damaged suite.json says nothing about its folder's records: run sets none of them aside
    and re-trains nothing; the board still uses every one."""
    from tests.test_cli import run_main

    info = records / "trust" / "suite.json"
    data = json.loads(info.read_text())
    data["name"] = 5
    info.write_text(json.dumps(data))
    assert _unused(records) == {}
    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    code, out = run_main(capsys, "run", str(suite), "--records", str(records / "trust"), "--no-progress")
    assert code == 0 and "0 run(s) ok, 0 failed, 6 already recorded" in out, out
    assert not list((records / "trust").rglob("*.damaged*"))


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_damaged_record_is_excluded_and_named(records, case):
    change, reason = CASES[case]
    target = records / "trust" / "phantom_ct" / "se" / "seed1.json"
    _edit(target, change)
    unused = _unused(records)
    assert list(unused) == ["trust/phantom_ct/se/seed1.json"], unused
    assert reason in unused["trust/phantom_ct/se/seed1.json"]


def test_board_names_forged_duplicate_and_inconsistent_records_and_uses_none(records, tmp_path):
    se = records / "trust" / "phantom_ct" / "se"
    _edit(se / "seed0.json", lambda d: d["metrics"].update(auc=0.999))  # forged
    _edit(se / "seed1.json", lambda d: d["test"].update(labels=d["test"]["labels"][:-1]))  # inconsistent
    # a second file claiming none/seed2, in a folder of its own (a pasted copy of the suite)
    other = records / "copy" / "phantom_ct" / "none"
    other.mkdir(parents=True)
    shutil.copy(records / "trust" / "phantom_ct" / "none" / "seed2.json", other / "seed2.json")
    # and a misfiled one: a record of se/seed2 stored under another name
    shutil.copy(se / "seed2.json", se / "zzz.json")
    out = tmp_path / "board.md"
    result = runner.invoke(cli.app, ["leaderboard", str(records), "--out", str(out)])
    assert result.exit_code == 1, result.output  # duplicates fail the render unless accepted
    assert "claim runs that another file claims too" in result.output
    board = out.read_text()
    section = board.split("## Records not used", 1)[1]
    for name in ("se/seed0.json", "se/seed1.json", "se/zzz.json", "trust/phantom_ct/none/seed2.json",
                 "copy/phantom_ct/none/seed2.json"):
        assert name in section, name
    assert "differs from the AUC of its own labels" in section and "differ in length" in section
    assert "claims the same run" in section and "path does not match its content" in section
    # the AUC table shows the excluded cells as missing, never the forged value
    row = next(line for line in board.splitlines() if line.startswith("| se "))
    assert "99.9" not in row and row.count("| –") >= 2
    ok = runner.invoke(cli.app, ["leaderboard", str(records), "--out", str(out), "--allow-duplicates", "--html",
                                 str(tmp_path / "index.html")])
    assert ok.exit_code == 0, ok.output
    page = (tmp_path / "index.html").read_text()
    assert "Records not used" in page and "copy/phantom_ct/none/seed2.json" in page


def test_compare_and_status_see_the_same_damage(records):
    target = records / "trust" / "phantom_ct" / "se" / "seed1.json"
    _edit(target, lambda d: d["test"].update(scores=d["test"]["scores"][:-1]))
    result = runner.invoke(cli.app, ["compare", str(records / "trust"), "--a", "se"])
    assert result.exit_code == 0, result.output
    assert "seed1.json: not used" in result.output
    table = result.output.split("ΔAUC")[1]
    assert "\n1 " not in table  # split seed 1 is not compared
    suite = records.parent / "trust.yaml"
    suite.write_text(SUITE)
    st = runner.invoke(cli.app, ["status", str(suite), "--records", str(records / "trust")])
    assert "phantom_ct/se/seed1" in st.output and "damaged" in st.output, st.output


def test_stale_config_override_leaves_committed_records_byte_identical(records, tmp_path):
    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    folder = records / "trust"
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}
    result = runner.invoke(cli.app, ["run", str(suite), "--records", str(folder), "--set", "train.epochs=3",
                                     "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "left as they are" in result.output and "--rerun-stale" in result.output
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


def test_newer_schema_is_left_alone(records, tmp_path):
    target = records / "trust" / "phantom_ct" / "se" / "seed1.json"
    _edit(target, lambda d: d.update(schema=9))
    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    s = load_suite(suite)
    runs = plan(s, records_dir=records / "trust")
    assert [r.status for r in runs].count("newer") == 1
    before = target.read_bytes()
    counts = run_suite(s, str(suite), runs, records_dir=records / "trust", log=lambda m: None)
    assert counts["left_alone"] == 1 and counts["ok"] == 0 and target.read_bytes() == before


@pytest.mark.parametrize("label", ["../../../escaped", "a/b", ".hidden", "x\\y", "se.json", "suite.json",
                                   "x.lock", "y.damaged1"])
def test_names_cannot_leave_the_records_folder(tmp_path, label, capsys):
    from tests.test_cli import run_main

    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.replace("{name: se}", "{name: se, label: '" + label + "'}"))
    code, out = run_main(capsys, "run", str(suite), "--records", str(tmp_path / "rec" / "trust"), "--dry-run")
    assert code == 2 and "attention.1.label" in out and "Traceback" not in out, out
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "rec").exists()


def test_one_writer_per_folder(records, tmp_path):
    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    s = load_suite(suite)
    folder = records / "trust"
    with FolderLock(folder):
        with pytest.raises(MedattnError, match="another medattn-bench run is writing to this records folder .*pid "
                                               f"{os.getpid()}"):
            run_suite(s, str(suite), plan(s, records_dir=folder), records_dir=folder, log=lambda m: None)
    # released when its holder ends: the same call now goes through (nothing to do)
    assert run_suite(s, str(suite), plan(s, records_dir=folder), records_dir=folder, log=lambda m: None)["ok"] == 0


def test_temp_files_of_killed_writers_are_cleaned_and_fresh_ones_kept(records, tmp_path):
    folder = records / "trust"
    old = folder / "phantom_ct" / "se" / ".seed1.json.abc123.tmp"
    fresh = folder / "phantom_ct" / "se" / ".seed2.json.def456.tmp"
    old.write_text("{}")
    fresh.write_text("{}")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    s = load_suite(suite)
    msgs = []
    run_suite(s, str(suite), plan(s, records_dir=folder), records_dir=folder, log=msgs.append)
    assert not old.exists() and fresh.exists()
    assert any("removed 1 temporary file" in m for m in msgs)


@pytest.mark.parametrize("args, pattern", [
    (["run", "{suite}", "--records", "{file}", "--no-progress"], r"cannot write to the records folder"),
    (["leaderboard", "{records}", "--out", "{tmp}"], r"--out .*: is a folder"),
    (["run", "{suite}", "--set", "train.batch_size=1e20", "--dry-run"], r"train\.batch_size"),
    (["run", "{suite}", "--set", "train.lr=1.0e+308", "--dry-run"], r"train\.lr: Input should be less than or equal to 10"),
    (["run", "{suite}", "--set", "eval.stats.n_resamples=1000000000", "--dry-run"], r"eval\.stats\.n_resamples"),
])
def test_bad_input_gives_one_line(records, tmp_path, capsys, args, pattern):
    import re

    from tests.test_cli import run_main

    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    afile = tmp_path / "a-file"
    afile.write_text("x")
    args = [a.format(suite=suite, file=afile, records=records, tmp=tmp_path) for a in args]
    code, out = run_main(capsys, *args)
    assert code == 2, out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    assert re.search(pattern, out), out


def test_deeply_nested_record_is_named_not_fatal(records, tmp_path):
    (records / "trust" / "phantom_ct" / "se" / "seed9.json").write_text("[" * 100_000 + "]" * 100_000)
    result = runner.invoke(cli.app, ["leaderboard", str(records), "--out", str(tmp_path / "b.md")])
    assert result.exit_code == 0, result.output
    assert "seed9.json: skipped: unreadable (JSON nested too deeply" in (tmp_path / "b.md").read_text()
    for args in (["compare", str(records / "trust"), "--a", "se"], ["records", "migrate", str(records)]):
        out = runner.invoke(cli.app, args)
        assert out.exit_code == 0 and "seed9.json" in out.output and "Traceback" not in out.output, out.output
    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE.replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2, 9]"))
    for args in (["run", str(suite), "--records", str(records / "trust"), "--dry-run"],
                 ["status", str(suite), "--records", str(records / "trust")]):
        out = runner.invoke(cli.app, args)
        assert out.exit_code == 0 and "damaged" in out.output, out.output


@pytest.fixture
def exiting_block():
    import sys

    from medattn_bench.attention import ATTENTION, register_attention

    @register_attention("test_exit_gate", paper="test only")
    def factory(channels: int):
        sys.exit(3)

    yield "test_exit_gate"
    ATTENTION.unregister("test_exit_gate")


def test_a_plugin_that_exits_is_one_line_at_load_and_a_failed_record_at_run(tmp_path, capsys, exiting_block):
    from medattn_bench.runner import plan as plan_
    from tests.test_cli import run_main

    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.replace("{name: se}", "{name: test_exit_gate}"))
    code, out = run_main(capsys, "run", str(suite), "--records", str(tmp_path / "rec"), "--no-progress")
    assert code == 2 and "raised SystemExit: 3" in out and len(out.strip().splitlines()) == 1, out
    # past the load-time check (e.g. a block that exits only in some runs): recorded, and the suite goes on
    s = load_suite(suite, check=False, plugins_given=True)
    counts = run_suite(s, str(suite), plan_(s, records_dir=tmp_path / "rec"), records_dir=tmp_path / "rec",
                       log=lambda m: None)
    assert counts["failed"] == 3 and counts["ok"] == 3
    recs, _ = load_records(tmp_path / "rec")
    failed = [r for r in recs if r.status == "failed"]
    assert all("SystemExit: 3" in r.failure and "sys.exit" in r.failure for r in failed)


def test_run_exits_non_zero_when_a_run_failed_and_too_small_splits_are_recorded(tmp_path, capsys):
    from tests.test_cli import run_main

    suite = tmp_path / "s.yaml"
    # 2 images per class: 2 training images
    suite.write_text(SUITE.replace("n_per_class: 20", "n_per_class: 2").replace("seeds: [0, 1, 2]", "seeds: [0]"))
    code, out = run_main(capsys, "run", str(suite), "--records", str(tmp_path / "rec"), "--no-progress")
    assert code == 1, out
    assert "0 run(s) ok, 2 failed" in out and "Traceback" not in out
    recs, _ = load_records(tmp_path / "rec")
    assert all(r.status == "failed" and "training image(s); at least 8 are needed" in r.failure
               for r in recs), [r.failure for r in recs]


def test_verify_retrains_a_record_identically_and_catches_a_doctored_one(records, capsys):
    import torch
    from tests.test_cli import run_main

    target = records / "trust" / "phantom_ct" / "se" / "seed1.json"
    recorded = json.loads(target.read_text())["env"]["device"]["threads"]
    # the shell's thread count is not the record's: verify must re-apply the record's (on a Zen 3 a
    # 1-thread and a 2-thread run of one config give other models), and leave the caller's alone
    before = torch.get_num_threads()
    other = 2 if recorded == 1 else 1
    torch.set_num_threads(other)
    try:
        code, out = run_main(capsys, "verify", str(target))
        assert torch.get_num_threads() == other
    finally:
        torch.set_num_threads(before)
    assert code == 0 and "identical (scores equal bit for bit)" in out, out
    # scores shifted by a monotone map keep the AUC, so no consistency check can see it; re-training does
    data = json.loads(target.read_text())
    data["test"]["scores"] = [s * 0.5 for s in data["test"]["scores"]]
    from medattn_bench.metrics import calibration

    data["metrics"].update(calibration(data["test"]["labels"], data["test"]["scores"]))
    target.write_text(json.dumps(data))
    assert _unused(records) == {}
    code, out = run_main(capsys, "verify", str(target))
    assert code == 1 and "NOT REPRODUCED" in out and "every setting that shapes the arithmetic the same" in out, out


def test_verify_re_applies_the_records_settings_instead_of_deciding_them(records, monkeypatch):
    """precision and memory format 'auto' in the config, resolved values in env.device: re-training
    takes the resolved ones and the record's threads (no probe, no shell default)."""
    import medattn_bench.execute as execute
    from medattn_bench.verify import verify_record

    target = records / "trust" / "phantom_ct" / "se" / "seed0.json"
    data = json.loads(target.read_text())
    dev = data["env"]["device"]
    seen = {}
    real = execute.execute_run

    def spy(spec, data_root=None, *a, **k):
        seen.update(precision=spec.train.precision, channels_last=spec.train.channels_last, threads=spec.train.threads)
        return real(spec, data_root, *a, **k)

    monkeypatch.setattr(execute, "execute_run", spy)
    v = verify_record(target)
    assert data["config"]["train"]["precision"] == "auto"
    assert seen == {"precision": dev["dtype"], "channels_last": dev["channels_last"], "threads": dev["threads"]}
    assert v.verdict == "identical" and v.differences == [], v.line()


@pytest.mark.parametrize("delta, sd, n, diffs, verdict", [
    (0.0, 0.05, 4, [], "identical"),
    (-75.0, 0.05, 4, [], "not reproduced"),
    (-75.0, 0.05, 4, ["CPU a here, b in the record"], "not consistent"),
    (-9.0, 0.0498, 4, ["CPU a here, b in the record"], "consistent"),  # the demo across machines
    (-15.0, 0.0498, 4, ["CPU a here, b in the record"], "not consistent"),
    (-1.0, float("nan"), 1, ["CPU a here, b in the record"], "undecided"),
])
def test_verify_rule(delta, sd, n, diffs, verdict):
    from medattn_bench.verify import K_SD, Verification

    v = Verification("r.json", 0.80, 0.80 + delta / 100, 0.0 if verdict == "identical" else 0.3, diffs, sd, n)
    assert v.verdict == verdict, v.line()
    assert v.ok == (verdict in ("identical", "consistent"))
    assert verdict.upper() in v.line().upper()
    if verdict in ("consistent", "not consistent"):
        assert f"{K_SD * 100 * sd:.2f} points" in v.line()


@pytest.mark.parametrize("claim", [
    {"machine": {"cpu": "Intel(R) Xeon(R) Platinum 8480+", "isa": {"aten": "AVX512", "onednn_fp32_conv": "brg:avx512_core"}}},
    {"machine": {"cpu": "Some CPU"}},  # names no instruction set
    {"arithmetic": 1},
    {"arithmetic": 99},
])
def test_verify_cannot_be_argued_out_of_its_verdict_by_the_record(records, capsys, monkeypatch, claim):
    """A forged record (scores and labels made consistent, so every read-time check passes) that
    also claims another machine or arithmetic is judged against the variant's spread, never excused."""
    from tests.test_cli import run_main

    import numpy as np

    import medattn_bench.verify as verify
    from medattn_bench.metrics import calibration
    from medattn_bench.stats import delong_ci

    target = records / "trust" / "phantom_ct" / "se" / "seed1.json"
    data = json.loads(target.read_text())
    labels = data["test"]["labels"]
    data["test"]["scores"] = [0.9 if y == 1 else 0.1 for y in labels]  # a perfect forged model
    ci = delong_ci(np.asarray(labels), np.asarray(data["test"]["scores"]))
    data["metrics"].update(auc=ci.auc, auc_ci_delong=ci.to_dict(), **calibration(labels, data["test"]["scores"]))
    for k, v in claim.items():
        data["env"][k] = {**data["env"][k], **v} if isinstance(v, dict) else v
    target.write_text(json.dumps(data))
    assert _unused(records) == {}, "the forgery must pass every read-time check"
    monkeypatch.setattr(verify, "_spread", lambda rec, path: (0.02, 4))  # a variant whose AUC varies by 2 points
    code, out = run_main(capsys, "verify", str(target))
    assert code == 1 and "NOT CONSISTENT" in out and "the bound is 3 sd" in out, out


def test_verify_expects_another_model_from_another_training_arithmetic(records, capsys):
    """A record trained before records named their training arithmetic (version 1: oneDNN's weight
    gradients everywhere) is not expected to re-train bit for bit under this code's version; its
    difference is judged against the variant's spread over the folder's other runs."""
    from tests.test_cli import run_main

    from medattn_bench.models.smallmap import ARITHMETIC

    target = records / "trust" / "phantom_ct" / "se" / "seed0.json"
    data = json.loads(target.read_text())
    assert data["env"]["arithmetic"] == ARITHMETIC == 2
    del data["env"]["arithmetic"]
    data["test"]["scores"] = [s * 0.99 for s in data["test"]["scores"]]  # as a differently trained model
    from medattn_bench.metrics import calibration

    data["metrics"].update(calibration(data["test"]["labels"], data["test"]["scores"]))
    target.write_text(json.dumps(data))
    code, out = run_main(capsys, "verify", str(target))
    assert code == 0 and ": consistent: ΔAUC +0.00 points" in out, out
    assert "training arithmetic 2 here, 1 in the record" in out and "over 2 other runs" in out, out
    alone = records / "alone" / "phantom_ct" / "se" / "seed0.json"
    alone.parent.mkdir(parents=True)
    shutil.copy(target, alone)
    code, out = run_main(capsys, "verify", str(alone))
    assert code == 1 and "UNDECIDED" in out and "holds 0 other run(s)" in out, out


def test_more_bad_input_is_one_line(tmp_path, capsys):
    import numpy as np

    from tests.test_cli import run_main

    # a suite file that is not UTF-8
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(SUITE.replace("name: trust", "name: trust # caf\xe9").encode("latin-1"))
    code, out = run_main(capsys, "run", str(bad), "--dry-run")
    assert code == 2 and "not UTF-8 text" in out and len(out.strip().splitlines()) == 1, out
    # a reduction ratio outside (0, 1]
    s = tmp_path / "s.yaml"
    s.write_text(SUITE.replace("{name: se}", "{name: se, hparams: {rd_ratio: -1}}"))
    code, out = run_main(capsys, "run", str(s), "--records", str(tmp_path / "r1"), "--no-progress")
    assert code == 2 and "rd_ratio must be in (0, 1]" in out and "attention.1.hparams" in out, out
    # CSV: a label that is neither class, and a row naming a missing image
    from PIL import Image

    img = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(img)
    for rows, pattern in (("a.png,1\na.png,0\na.png,5\n", r"line 4: label '5' is neither positive '1' nor negative '0'"),
                          ("a.png,1\nmissing.png,0\n", r"line 3: image 'missing.png' not found")):
        (tmp_path / "d.csv").write_text("path,label\n" + rows)
        s.write_text(SUITE.replace("{name: phantom_ct, options: {n_per_class: 20, size: 16}}",
                                   "{name: csv, options: {root: " + str(tmp_path / "d.csv") + "}}"))
        code, out = run_main(capsys, "run", str(s), "--records", str(tmp_path / "r2"), "--no-progress")
        import re

        assert code == 2 and re.search(pattern, out) and "Traceback" not in out, out
    # MedMNIST arrays of mismatched lengths, and 2-D images
    npz = tmp_path / "m.npz"
    z = np.zeros((4, 8, 8), np.uint8)
    for arrays, pattern in (({"train_labels": np.zeros((3, 1))}, "holds 4 images but train_labels 3 labels"),
                            ({"train_images": np.zeros((4, 8), np.uint8)}, "train_images has shape (4, 8)")):
        parts = {f"{k}_{w}": (z if w == "images" else np.zeros((4, 1))) for k in ("train", "val", "test")
                 for w in ("images", "labels")}
        parts.update(arrays)
        np.savez(npz, **parts)
        s.write_text(SUITE.replace("{name: phantom_ct, options: {n_per_class: 20, size: 16}}",
                                   "{name: medmnist, options: {path: " + str(npz) + "}}"))
        code, out = run_main(capsys, "run", str(s), "--records", str(tmp_path / "r3"), "--no-progress")
        assert code == 2 and pattern in out and "Traceback" not in out, out


@pytest.mark.parametrize("size", [0, 100000000])
def test_dry_run_checks_dataset_options_as_run_does(tmp_path, capsys, size):
    from tests.test_cli import run_main

    s = tmp_path / "s.yaml"
    s.write_text(SUITE.replace("size: 16}}", f"size: {size}}}}}", 1))
    code, out = run_main(capsys, "run", str(s), "--dry-run")
    assert code == 2 and "datasets.0.options.size" in out and len(out.strip().splitlines()) == 1, out


def test_a_full_disk_stops_before_training(records, tmp_path, monkeypatch):
    import shutil as sh

    from medattn_bench import runner as rn

    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE.replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]"))
    s = load_suite(suite)
    folder = records / "trust"
    monkeypatch.setattr(sh, "disk_usage", lambda p: sh._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    with pytest.raises(MedattnError, match="1 MB free"):
        rn.run_suite(s, str(suite), plan(s, records_dir=folder), records_dir=folder, log=lambda m: None)
    assert not (folder / "phantom_ct" / "se" / "seed3.json").exists()


def test_the_board_names_the_training_arithmetic_so_a_mixed_data_set_shows_two_machines(records):
    from medattn_bench.records import machine_label

    rec = read_record(records / "trust" / "phantom_ct" / "se" / "seed0.json")
    assert machine_label(rec).endswith(", arithmetic 2)")
    old = rec.model_copy(update={"env": {k: v for k, v in rec.env.items() if k != "arithmetic"}})
    assert "arithmetic" not in machine_label(old) and machine_label(old) != machine_label(rec)


@pytest.mark.slow
def test_verify_re_trains_under_the_records_instruction_set_caps(tmp_path, capsys):
    """A record trained with ATen capped (another arithmetic than this shell's) is re-trained in a
    child process under the record's caps, and so verifies bit for bit."""
    import subprocess
    import sys

    from tests.test_cli import run_main

    suite = tmp_path / "capped.yaml"
    suite.write_text(SUITE.replace("name: trust", "name: capped").replace("{name: se}", "{name: cbam}")
                     .replace("seeds: [0, 1, 2]", "seeds: [0]"))
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "medattn_bench", "run", str(suite), "--records", str(tmp_path / "rec"),
                          "--no-progress"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    target = tmp_path / "rec" / "phantom_ct" / "cbam" / "seed0.json"
    assert json.loads(target.read_text())["env"]["machine"]["isa"]["caps"] == {"ATEN_CPU_CAPABILITY": "default"}
    assert "ATEN_CPU_CAPABILITY" not in os.environ
    code, out = run_main(capsys, "verify", str(target))
    assert code == 0 and "identical" in out and "child process under the record's caps" in out, out


def test_writes_never_follow_a_link_out_of_the_records_folder(records, tmp_path, capsys):
    """A variant folder that is a symbolic link to elsewhere, and a .lock that is a link to a file
    outside: run writes nothing there (one line, non-zero exit), and the linked file is intact."""
    from tests.test_cli import run_main

    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE.replace("seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]"))
    folder = records / "trust"
    outside = tmp_path / "elsewhere"
    shutil.move(str(folder / "phantom_ct" / "se"), str(outside))
    (folder / "phantom_ct" / "se").symlink_to(outside, target_is_directory=True)
    before = sorted(p.name for p in outside.iterdir())
    code, out = run_main(capsys, "run", str(suite), "--records", str(folder), "--no-progress")
    assert code != 0 and "leads outside the records folder" in out and "Traceback" not in out, out
    assert sorted(p.name for p in outside.iterdir()) == before
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (folder / "phantom_ct" / "se").unlink()
    shutil.move(str(outside), str(folder / "phantom_ct" / "se"))
    (folder / ".lock").unlink(missing_ok=True)
    (folder / ".lock").symlink_to(victim)
    code, out = run_main(capsys, "run", str(suite), "--records", str(folder), "--no-progress")
    assert code != 0 and ".lock: is a symbolic link" in out, out
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("make, reason", [
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.mkdir(), "not a regular file"),
    (lambda p: p.write_bytes(b" " * (32 * 2**20 + 1)), "more than a record can hold"),
])
def test_reads_never_hang_or_exhaust_memory(clean, tmp_path, make, reason):
    """A FIFO, a folder or a huge file named like a record is named and skipped, never read."""
    folder = tmp_path / "records"
    shutil.copytree(clean, folder)
    bad = folder / "trust" / "phantom_ct" / "se" / "seed7.json"
    make(bad)
    recs, problems = load_records(folder)
    assert len(recs) == 6
    assert any(str(bad) in p and reason in p for p in problems), problems


def test_a_record_reached_through_a_link_to_outside_is_not_read(clean, tmp_path):
    folder = tmp_path / "records"
    shutil.copytree(clean, folder)
    outside = tmp_path / "outside"
    shutil.copytree(folder / "trust" / "phantom_ct" / "se", outside)
    (folder / "trust" / "phantom_ct" / "other").symlink_to(outside, target_is_directory=True)
    recs, _ = load_records(folder)
    assert len(recs) == 6  # the three behind the link are not records of this folder


def test_an_empty_records_path_is_refused(tmp_path, capsys):
    from tests.test_cli import run_main

    suite = tmp_path / "trust.yaml"
    suite.write_text(SUITE)
    code, out = run_main(capsys, "run", str(suite), "--records", "", "--dry-run")
    assert code != 0 and "name a records folder" in out, out
    suite.write_text(SUITE + "output: {records: ''}\n")
    code, out = run_main(capsys, "run", str(suite), "--dry-run")
    assert code != 0 and "output.records" in out and "Traceback" not in out, out


@pytest.mark.parametrize("stats", [{"ci_level": 7}, {"n_resamples": -1}, "not a mapping"])
def test_a_suite_json_with_settings_out_of_range_is_named_and_its_records_shown(records, tmp_path, stats):
    info = records / "trust" / "suite.json"
    d = json.loads(info.read_text())
    d["stats"] = stats
    info.write_text(json.dumps(d))
    for args in (["leaderboard", str(records), "--out", str(tmp_path / "b.md")],
                 ["compare", str(records / "trust"), "--a", "se", "--b", "none"],
                 ["export", str(records), "--out", str(tmp_path / "x"), "--format", "csv"]):
        result = runner.invoke(cli.app, args)
        out = result.output
        assert result.exit_code == 0 and result.exception is None, (args, out, result.exception)
        if args[0] == "leaderboard":
            board = (tmp_path / "b.md").read_text()
            assert "trust/suite.json: " in board and "stats" in board and "default" in board, board[-3000:]
            assert "### phantom_ct" in board and "| se " in board, board


def test_verify_of_a_damaged_record_is_one_line(records, capsys):
    from tests.test_cli import run_main

    target = records / "trust" / "phantom_ct" / "se" / "seed0.json"
    target.write_text(target.read_text()[:-40])
    code, out = run_main(capsys, "verify", str(target))
    assert code == 2 and "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    assert "seed0.json" in out and "not verified" in out and "unreadable" in out, out
