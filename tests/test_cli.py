"""The command line: happy paths and at least ten kinds of bad input, each one readable line."""

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medattn_bench import cli

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

GOOD = """\
name: tiny
datasets:
  - {name: phantom_ct, options: {n_per_class: 12, size: 16}}
attention:
  - {name: none}
  - {name: se}
seeds: [0]
train: {epochs: 1, batch_size: 8, image_size: 16, lr: 0.01}
eval: {stats: {n_resamples: 200}, cost: {throughput: false}}
"""


def run_main(capsys, *args: str) -> tuple[int, str]:
    import sys

    old = sys.argv
    sys.argv = ["medattn-bench", *args]
    try:
        with pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return exc.value.code, out.out + out.err


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


BAD_CASES = [
    ("unknown attention", GOOD.replace("{name: se}", "{name: cbma}"), r"attention\.1\.name: unknown attention block 'cbma'\. Did you mean 'cbam'\?.*Available: .*se"),
    ("unknown data set", GOOD.replace("name: phantom_ct", "name: phantom_cr"), r"datasets\.0\.name: unknown data set 'phantom_cr'\. Did you mean 'phantom_cxr'"),
    ("bad value", GOOD.replace("epochs: 1", "epochs: -3"), r"train\.epochs: Input should be greater than or equal to 1"),
    ("unknown key", GOOD.replace("epochs: 1", "epoch: 1"), r"train\.epoch: unknown key; did you mean 'epochs'\?"),
    ("bad literal", GOOD.replace("lr: 0.01}", "lr: 0.01, precision: fp16}"), r"train\.precision: Input should be 'auto', 'bf16' or 'fp32', got 'fp16'"),
    ("malformed yaml", "name: x\ndatasets: [{name: phantom_ct\n", r"suite\.yaml: line \d+, column \d+ malformed YAML"),
    ("not a mapping", "- a\n- b\n", r"a suite is a mapping of keys"),
    ("duplicate key", "name: x\n" + GOOD, r"suite\.yaml: line 2, column 1 malformed YAML: duplicate key 'name' \(first on line 1\)"),
    ("negative seed", GOOD.replace("seeds: [0]", "seeds: [0, -1]"), r"seeds must be >= 0"),
    ("bad hparam", GOOD.replace("{name: se}", "{name: se, hparams: {reduction: 8}}"), r"attention\.1\.hparams: attention 'se' has no hyper-parameter 'reduction'; valid: rd_ratio, rd_divisor"),
    ("bad dataset option", GOOD.replace("n_per_class: 12", "n_per_clas: 12"), r"datasets\.0\.options\.n_per_clas: Extra inputs are not permitted \(options of 'phantom_ct': n_per_class, size, difficulty, seed\)"),
    ("duplicate labels", GOOD.replace("{name: se}", "{name: none}"), r"suite\.yaml: attention rows must have distinct labels; \['none'\] repeat"),
    ("missing baseline", GOOD.replace("{name: none}", "{name: gc}"), r"eval\.stats\.baseline: 'none' is not one of the attention rows"),
    ("bad milestones", GOOD.replace("lr: 0.01}", "lr: 0.01, lr_milestones: [0.5, 30]}"), r"train\.lr_milestones: milestones are fractions of the epochs in \(0, 1\), got \[30"),
]


@pytest.mark.parametrize("label, text, pattern", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_suite_gives_one_readable_line(tmp_path, capsys, label, text, pattern):
    import re

    path = write(tmp_path, text)
    # Full validation happens when a run starts, before anything trains or is written.
    code, out = run_main(capsys, "run", str(path), "--records", str(tmp_path / "rec"), "--no-progress")
    assert code == 2, out
    assert not (tmp_path / "rec").exists()
    assert "Traceback" not in out
    lines = [line for line in out.strip().splitlines() if line]
    assert len(lines) == 1, out
    assert lines[0].startswith("error: ") and str(path) in lines[0], out
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["run", "nope.yaml"], r"nope\.yaml: no such suite file"),
        (["run", "{suite}", "--set", "train"], r"--set 'train': expected key\.path=value"),
        (["run", "{suite}", "--only", "variant=se"], r"--only 'variant=se': expected KEY=VALUE with KEY one of dataset, attention, seed"),
        (["run", "{suite}", "--only", "dataset=mri"], r"--only dataset=mri: no run of .* matches"),
        (["run", "{suite}", "--plugin", "no_such_plugin_mod"], r"cannot import plugin module 'no_such_plugin_mod'"),
        (["leaderboard", "{tmp}/missing"], r"no such records folder"),
        (["compare", "{tmp}", "--a", "se"], r"no run records found"),
        (["profile", "--attention", "sse", "--size", "32"], r"unknown attention block 'sse'\. Did you mean [^?]*'se'"),
        (["profile", "--device", "tpu"], r"--device 'tpu': expected one of auto, cpu, cuda"),
    ],
)
def test_bad_arguments(tmp_path, capsys, args, pattern):
    import re

    suite = write(tmp_path, GOOD)
    args = [a.format(suite=suite, tmp=tmp_path) for a in args]
    code, out = run_main(capsys, *args)
    assert code == 2, out
    assert "Traceback" not in out
    assert re.search(pattern, out), out
    assert len(out.strip().splitlines()) == 1, out


def test_paper_suite_without_data_fails_in_one_line(capsys, monkeypatch):
    monkeypatch.delenv("MEDATTN_DATA", raising=False)
    code, out = run_main(capsys, "run", str(ROOT / "suites" / "paper.yaml"), "--records", "/nonexistent/never-written")
    assert code == 2
    assert out.count("\n") == 1 and "Traceback" not in out
    assert re.search(r"data set 'skin': its folder was not found; looked in: .*MEDATTN_DATA unset\. "
                     r"Get it with `medattn-bench data download skin --to DIR`", out), out


def test_dry_run_marks_done_rows_and_only_filters(tmp_path, capsys):
    suite = write(tmp_path, GOOD)
    rec = tmp_path / "rec"
    code, out = run_main(capsys, "run", str(suite), "--records", str(rec), "--only", "attention=none", "--no-progress")
    assert code in (0, None), out
    assert "1 run(s) ok" in out
    result = runner.invoke(cli.app, ["run", str(suite), "--records", str(rec), "--dry-run"])
    assert result.exit_code == 0, result.output
    rows = {tuple(line.split()[:2]): line for line in result.output.splitlines() if line.startswith("phantom_ct")}
    assert "done" in rows[("phantom_ct", "none")] and "todo" in rows[("phantom_ct", "se")]
    assert "2 runs, 1 done, 1 to do" in result.output
    fresh = tmp_path / "fresh"
    assert runner.invoke(cli.app, ["run", str(suite), "--records", str(fresh), "--dry-run"]).exit_code == 0
    assert not fresh.exists()  # a dry run writes nothing
    status = runner.invoke(cli.app, ["status", str(suite), "--records", str(rec)])
    assert status.exit_code == 0, status.output
    assert "1 done, 1 todo (2 runs)" in status.output and "phantom_ct/se/seed0" in status.output
    assert "phantom_ct/none/seed0" not in status.output  # done runs only with --all


def test_list_attention_with_wildcard():
    result = runner.invoke(cli.app, ["list", "attention", "c*"])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()[2:]]
    assert names == ["cbam", "coord", "criss_cross"]
    assert "Woo et al." in result.output


def test_profile_prints_cost(capsys):
    result = runner.invoke(cli.app, ["profile", "--attention", "se", "--size", "32", "--batch", "4", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "attention 89,080" in result.output  # SE's parameters in the 8 blocks
    assert "uncounted   none" in result.output
    assert "train " in result.output and "img/s" in result.output


def test_no_cuda_warning_on_a_cpu_only_machine(tmp_path):
    """torch.utils.benchmark pulls in cpp_extension, whose import logs 'No CUDA runtime is found'
    on a machine without CUDA; the timing loop must not show it to the user."""
    import subprocess
    import sys

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine has no such warning")
    code = ("from medattn_bench.timing import time_calls\n"
            "time_calls(lambda: None, repeats=2, warmup=1)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "No CUDA runtime" not in res.stderr + res.stdout, res.stderr
    assert "cpp_extension" not in res.stderr, res.stderr


def test_version_and_help_read_like_a_unix_tool(capsys, monkeypatch):
    """--version; help wrapped, not cut, at 80 columns, with plain metavars (RECORDS, SUITE), not
    Typer's type labels."""
    from importlib.metadata import version

    code, out = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"medattn-bench {version('medattn-bench')}"
    monkeypatch.setenv("COLUMNS", "80")
    for cmd in (["run"], ["leaderboard"], ["export"], ["verify"], ["cam"], ["data", "info"]):
        code, out = run_main(capsys, *cmd, "--help")
        assert code == 0, out
        assert "…" not in out and "<list[" not in out and "<bool>" not in out and "<str>" not in out, out
        assert max(len(line) for line in out.splitlines()) <= 80, out
    code, out = run_main(capsys, "run", "--help")
    assert "--records RECORDS" in out and "dataset=ct,attention=cbam,seed=0" in out


def test_data_root_that_does_not_exist_is_an_error_even_for_a_dry_run(tmp_path, capsys):
    missing = tmp_path / "no" / "such"
    code, out = run_main(capsys, "run", str(ROOT / "suites" / "demo.yaml"), "--dry-run", "--data-root", str(missing))
    assert code == 2 and f"--data-root {missing}: no such folder" in out and "Traceback" not in out


def test_cam_without_weights_says_how_to_make_them(tmp_path, capsys):
    """The demo's records are committed without their weights: cam names the commands that make them."""
    code, out = run_main(capsys, "cam", str(ROOT / "suites" / "demo.yaml"), "--dataset", "phantom_ct", "--seed", "0")
    assert code == 2 and "are missing" in out and "Traceback" not in out
    assert "--set 'eval.cam.keep_weights=[0]' --records DIR" in out and "--seed 0 --records DIR" in out


def test_status_needs_no_model_code(tmp_path):
    """status reads records and the queue: like run --dry-run it imports neither torch nor a plugin."""
    import subprocess
    import sys

    code = ("import sys\nfrom medattn_bench.cli import command\n"
            f"try:\n    command()(['status', {str(ROOT / 'suites' / 'demo.yaml')!r}], prog_name='m')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'status imported torch'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "36 done" in res.stdout
