"""Exports: CSV and JSON Lines read back by pandas with the documented columns and dtypes, equal to
the analysis they format; LaTeX with booktabs rules (compiled where a LaTeX engine exists)."""

import json
import math
import shutil
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from medattn_bench import cli
from medattn_bench.analysis import analyse
from medattn_bench.export import COMPARISON_COLUMNS, RUN_COLUMNS
from medattn_bench.records import load_records, load_suite_infos

pytestmark = pytest.mark.slow  # a trained suite each (and a browser): make test-slow, run by CI

@pytest.fixture(scope="module")
def records(checks_board, tmp_path_factory):
    """The shared checks board (conftest: two phantom data sets, none / se / gc and an A/A copy
    none_b, three splits, throughput and localisation), with the paper's numbers for phantom_ct."""
    root = checks_board.copy(tmp_path_factory.mktemp("export"))
    info_path = root / "tiny" / "suite.json"
    info = json.loads(info_path.read_text())
    info.update(file="does-not-exist.yaml", paper_reference={"phantom_ct": {"none": 80.0, "se": 84.0, "gc": 80.0}})
    info_path.write_text(json.dumps(info))
    return root


def _analysis(records):
    recs, _ = load_records(records)
    infos, _ = load_suite_infos(records)
    return analyse(recs, infos)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_tables_read_back_in_pandas_equal_the_analysis(records, tmp_path, fmt):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.app, ["export", str(records), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    # dtype=False as docs/leaderboard.md says: pandas otherwise turns a float column whose values are
    # all whole (p_adj 1.0 everywhere on this board) into integers
    read = (lambda p: pd.read_csv(p)) if fmt == "csv" else (lambda p: pd.read_json(p, lines=True, dtype=False))
    runs, comps = read(out / f"runs.{fmt}"), read(out / f"comparisons.{fmt}")
    assert list(runs.columns) == list(RUN_COLUMNS) and list(comps.columns) == list(COMPARISON_COLUMNS)
    assert len(runs) == 24 and len(comps) == 4  # the A/A copy's runs are rows too, labelled
    assert sorted(runs.groupby("role").size().items()) == [("A/A copy", 6), ("baseline", 6), ("variant", 12)]
    assert pd.api.types.is_integer_dtype(runs["split_seed"]) and pd.api.types.is_float_dtype(runs["auc"])
    assert pd.api.types.is_float_dtype(comps["delta"]) and pd.api.types.is_float_dtype(comps["p_adj"])
    a = _analysis(records)[0]
    for _, r in runs.iterrows():
        d = a.datasets[r["dataset"]]
        rec = (d.variants.get(r["variant"]) or d.aa_copies[r["variant"]]).runs[(r["split_seed"], r["init_seed"])]
        assert r["auc"] == pytest.approx(100 * rec.metrics.auc)
        energy = [e for e in rec.explain["energy"] if e is not None]  # an all-zero CAM has no energy share
        if energy:
            assert r["energy"] == pytest.approx(100 * sum(energy) / len(energy))
        else:
            assert math.isnan(r["energy"])
        assert r["params"] == rec.cost["static"]["params"]
        row_cost = a.costs.get(r["variant"])
        if row_cost:  # the board's cost row, ratio included
            assert r["train_img_s"] == pytest.approx(row_cost["throughput"]["train_img_s"])
            assert r["train_ratio"] == pytest.approx(row_cost["throughput"]["train_ratio"])
        assert r["record"].endswith(f"{r['variant']}/seed{r['split_seed']}.json")
    for _, c in comps.iterrows():
        row = a.datasets[c["dataset"]].comparisons[c["variant"]]
        assert c["delta"] == pytest.approx(100 * row.decisive.delta)
        assert c["delta_lo"] == pytest.approx(100 * row.decisive.ci_lo)
        assert c["p_adj"] == pytest.approx(row.p_adj) and c["verdict"] == row.outcome
        paper = {"se": 4.0, "gc": 0.0}[c["variant"]] if c["dataset"] == "phantom_ct" else float("nan")
        assert c["paper_delta"] == pytest.approx(paper, nan_ok=True)
        assert math.isfinite(c["mde"]) or row.decisive is None


def test_latex_has_booktabs_and_compiles_where_possible(records, tmp_path):
    out = tmp_path / "tex"
    result = CliRunner().invoke(cli.app, ["export", str(records), "--format", "latex", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tex = (out / "tables.tex").read_text()
    for token in ("\\begin{table}", "\\toprule", "\\midrule", "\\bottomrule", "\\end{tabular}", "$\\pm$",
                  "phantom\\_ct", "\\label{tab:tiny}"):
        assert token in tex, token
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0]
    assert body.count("\\\\") == 6  # none, se, gc on each of the two data sets
    assert tex.count("{") == tex.count("}")
    engine = shutil.which("pdflatex")
    if engine:
        doc = tmp_path / "doc.tex"
        doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\\input{tex/tables.tex}"
                       "\\end{document}\n")
        run = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]


def test_bad_export_arguments(records, tmp_path):
    bad = CliRunner().invoke(cli.app, ["export", str(records), "--format", "xlsx"])
    assert bad.exit_code == 2 and "expected csv, jsonl or latex" in bad.output
    afile = tmp_path / "f"
    afile.write_text("x")
    bad = CliRunner().invoke(cli.app, ["export", str(records), "--out", str(afile)])
    assert bad.exit_code == 2 and "is a file" in bad.output


def test_suite_filter(records, tmp_path):
    out = tmp_path / "one"
    result = CliRunner().invoke(cli.app, ["export", str(records), "--suite", "tiny", "--out", str(out)])
    assert result.exit_code == 0 and "24 runs the board uses" in result.output, result.output
    assert set(pd.read_csv(out / "runs.csv")["suite"]) == {"tiny"}
    result = CliRunner().invoke(cli.app, ["export", str(records), "--suite", "nope", "--out", str(out)])
    assert result.exit_code == 2 and "--suite nope: no records of that suite" in result.output and "tiny" in result.output
