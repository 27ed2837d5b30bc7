"""Plugins: the contract, the three ways in, collisions, and a leaderboard row for an installed one."""

import importlib.util
import json
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.attention import ATTENTION
from medattn_bench.contract import check_block
from medattn_bench.errors import PluginError, SuiteError
from medattn_bench.plugins import _loaded, load_plugins
from medattn_bench.suite import load_suite

runner = CliRunner()

BROKEN = '''
import torch
from torch import nn
from medattn_bench.attention import register_attention

class Shrink(nn.Module):
    def forward(self, x):
        return x[:, :, ::2]

class NaNs(nn.Module):
    def forward(self, x):
        return x * float("nan")

class Dead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.used = nn.Parameter(torch.ones(c))
        self.unused = nn.Parameter(torch.ones(c))
    def forward(self, x):
        return x * self.used[None, :, None, None]

@register_attention("{p}_shrink")
def shrink(channels):
    return Shrink()

@register_attention("{p}_nan")
def nan(channels):
    return NaNs()

@register_attention("{p}_dead")
def dead(channels):
    return Dead(channels)

@register_attention("{p}_ok", paper="a fine block")
def ok(channels, scale: float = 1.0):
    return nn.Identity()
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """A plugin module on sys.path with a unique name; its blocks are unregistered afterwards."""
    prefix = f"p{abs(hash(str(tmp_path))) % 10**8}"
    name = f"{prefix}_blocks"
    (tmp_path / f"{name}.py").write_text(BROKEN.replace("{p}", prefix))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, prefix
    for n in ATTENTION.names(f"{prefix}_*"):
        ATTENTION.unregister(n)
    sys.modules.pop(name, None)
    _loaded.pop(name, None)


def test_nothing_is_imported_until_named(plugin_module):
    name, prefix = plugin_module
    assert name not in sys.modules and not ATTENTION.names(f"{prefix}_*")
    load_plugins([name])
    assert ATTENTION.names(f"{prefix}_*") == [f"{prefix}_{s}" for s in ("dead", "nan", "ok", "shrink")]
    assert ATTENTION.entry(f"{prefix}_ok").origin == f"plugin module {name}"


def test_contract_catches_each_broken_block(plugin_module):
    name, prefix = plugin_module
    load_plugins([name])
    assert check_block(f"{prefix}_ok").ok
    shrink = check_block(f"{prefix}_shrink").failures
    assert any("train output at (2, 64, 56, 56) has shape (2, 64, 28, 56), expected (2, 64, 56, 56)" in f for f in shrink)
    assert any("contains NaN or inf" in f for f in check_block(f"{prefix}_nan").failures)
    assert any("no gradient reaches parameter(s) unused" in f for f in check_block(f"{prefix}_dead").failures)


def test_plugin_check_cli(plugin_module):
    name, prefix = plugin_module
    bad = runner.invoke(cli.app, ["plugin", "check", f"{prefix}_nan", "--plugin", name])
    assert bad.exit_code == 1
    assert "FAIL: train output at (2, 64, 56, 56) contains NaN or inf" in bad.output
    good = runner.invoke(cli.app, ["plugin", "check", f"{prefix}_ok", "--plugin", name, "--size", "64"])
    assert good.exit_code == 0, good.output
    assert "contract: ok" in good.output and "params overhead on ResNet-18: +0" in good.output


def test_profile_refuses_a_plugin_that_breaks_the_contract(plugin_module):
    name, prefix = plugin_module
    bad = runner.invoke(cli.app, ["profile", "--attention", f"{prefix}_shrink", "--plugin", name, "--size", "32"])
    assert bad.exit_code == 2 and "breaks the block contract" in bad.output and "Traceback" not in bad.output


def test_suite_plugins_are_loaded_and_checked(plugin_module, tmp_path):
    name, prefix = plugin_module
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: s\nplugins: [{name}]\ndatasets: [{{name: phantom_ct}}]\n"
                     f"attention: [{{name: none}}, {{name: {prefix}_ok, hparams: {{scale: 2}}}}]\n")
    s = load_suite(suite)
    assert [a.name for a in s.attention] == ["none", f"{prefix}_ok"]
    suite.write_text(suite.read_text().replace(f"{prefix}_ok, hparams: {{scale: 2}}", f"{prefix}_dead"))
    with pytest.raises(SuiteError, match=rf"attention\.1: plugin block '{prefix}_dead' \(plugin module {name}\) "
                                         r"breaks the block contract: no gradient reaches parameter\(s\) unused"):
        load_suite(suite)


def test_name_collision_names_both_origins(tmp_path, monkeypatch):
    (tmp_path / "clash_se_plugin.py").write_text(
        "from torch import nn\nfrom medattn_bench.attention import register_attention\n"
        "@register_attention('se')\ndef se(channels):\n    return nn.Identity()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'se' is registered twice: by built-in \(medattn_bench\.attention\.se\.SqueezeExcite\) "
                                          r"and by plugin module clash_se_plugin"):
        load_plugins(["clash_se_plugin"])
    sys.modules.pop("clash_se_plugin", None)


@pytest.mark.slow
def test_installed_example_plugin_gets_a_leaderboard_row(tmp_path):
    if importlib.util.find_spec("medattn_scse") is None:
        pytest.fail("the example plugin is not installed; run `make install` "
                    "(it installs examples/attention-plugin)", pytrace=False)
    suite = tmp_path / "tiny.yaml"
    suite.write_text(textwrap.dedent("""\
        name: tiny-plugin
        datasets: [{name: phantom_mri, options: {n_per_class: 16, size: 16}}]
        attention: [{name: none}]
        seeds: [0, 1]
        train: {epochs: 2, batch_size: 8, image_size: 16, lr: 0.01}
        eval: {stats: {n_resamples: 200}, cost: {throughput: false}}
        """))
    rec = tmp_path / "records"
    result = runner.invoke(cli.app, ["run", str(suite), "--records", str(rec / "tiny-plugin"), "--no-progress",
                                     "--set", "attention+=[{name: scse}]"])
    assert result.exit_code == 0, result.output
    assert "4 run(s) ok" in result.output
    # how long the user waited before training began (no cost is measured before it)
    import re

    assert re.search(r"the first starts \d+\.\d s after the command", result.output), result.output
    assert "measured in" not in result.output.split("the first starts")[0]
    record = json.loads((rec / "tiny-plugin" / "phantom_mri" / "scse" / "seed0.json").read_text())
    block = record["attention_block"]
    assert block["origin"] == "medattn-scse 0.1.0" and block["distribution"] == "medattn-scse"
    assert len(block["source_sha256"]) == 64 and block["source_file"] == "blocks.py"
    board = runner.invoke(cli.app, ["leaderboard", str(rec), "--out", "-"])
    assert board.exit_code == 0, board.output
    table = board.output.split("### phantom_mri")[1]
    row = next(line for line in table.splitlines() if line.startswith("| scse "))
    assert "[" in row and "±" in row  # per-seed CIs, mean ± sd and Δ with CI
    cost_row = [line for line in board.output.split("### Cost")[1].splitlines() if line.startswith("| scse ")]
    assert cost_row and "+701,128" in cost_row[0]


def test_built_in_blocks_stay_built_in_when_a_plugin_loads_first():
    """In a fresh process whose first contact with the blocks is an entry point, the built-ins are
    still attributed to 'built-in' (they were once recorded as the plugin's)."""
    import subprocess
    import sys

    code = ("from medattn_bench.plugins import discover_entry_points\n"
            "discover_entry_points()\n"
            "from medattn_bench.attention import ATTENTION\n"
            "print(ATTENTION.entry('se').origin, '|', ATTENTION.entry('scse').origin)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    se, scse = (s.strip() for s in out.stdout.strip().split("|"))
    assert se == "built-in" and scse.startswith("medattn-scse"), out.stdout


def _stale_install(tmp_path):
    """A distribution whose entry point names a module that is gone: what an editable install
    leaves behind when its source folder is moved or deleted."""
    dist = tmp_path / "site" / "medattn_stale-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: medattn-stale\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[medattn_bench.attention]\nstale = medattn_stale_gone.blocks\n")
    return tmp_path / "site"


@pytest.mark.slow
def test_a_stale_installed_plugin_warns_and_fails_only_where_its_block_is_named(tmp_path):
    """An installed plugin that no longer imports must not stop commands that never use it (every
    command that loads plugins goes through the same discovery as `run`); a suite that names its
    block gets one line naming the entry point and why it failed, before anything trains."""
    import os
    import subprocess

    site = _stale_install(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    named = tmp_path / "named.yaml"
    named.write_text(textwrap.dedent("""\
        name: tiny
        datasets: [{name: phantom_mri, options: {n_per_class: 16, size: 16}}]
        attention: [{name: none}, {name: stale}]
        seeds: [0]
        """))
    cli_ = [sys.executable, "-m", "medattn_bench"]
    ok = subprocess.run(cli_ + ["list", "attention", "--params"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "warning: entry point stale = medattn_stale_gone.blocks (medattn-stale 0.1) failed to load" in ok.stderr
    assert any(line.startswith("se ") for line in ok.stdout.splitlines()), ok.stdout  # the others are listed
    bad = subprocess.run(cli_ + ["run", str(named), "--no-progress", "--records", str(tmp_path / "rec")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr, bad.stderr
    err = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "attention.1.name" in err[0] and "'stale'" in err[0], bad.stderr
    assert "ModuleNotFoundError" in err[0] and "reinstall or uninstall medattn-stale" in err[0], err
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").rglob("*.json"))  # nothing trained
