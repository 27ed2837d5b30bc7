from pathlib import Path

import pytest

from medattn_bench.errors import SuiteError
from medattn_bench.suite import apply_override, load_suite

ROOT = Path(__file__).resolve().parents[1]


def test_demo_suite_loads_and_paper_defaults():
    s = load_suite(ROOT / "suites" / "demo.yaml")
    assert [a.name for a in s.attention] == ["none", "se", "cbam", "gc"]
    assert s.seeds == [0, 1, 2]
    # Defaults not set by the demo are the paper's protocol.
    assert (s.train.momentum, s.train.weight_decay, s.train.lr_milestones) == (0.9, 1e-4, [0.3, 0.6, 0.9])
    assert s.eval.split.test_fraction == 0.2


def test_include_and_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: base\ndatasets: [{name: phantom_ct}]\nattention: [{name: none}]\ntrain: {epochs: 9, lr: 0.1}\n")
    child = tmp_path / "child.yaml"
    child.write_text("include: base.yaml\nname: child\ntrain: {epochs: 3}\n")
    s = load_suite(child, ["train.batch_size=8", "attention+=[{name: se, hparams: {rd_ratio: 0.25}}]", "datasets.0.options.size=24"])
    assert (s.name, s.train.epochs, s.train.lr, s.train.batch_size) == ("child", 3, 0.1, 8)
    assert [a.key for a in s.attention] == ["none", "se"] and s.attention[1].hparams == {"rd_ratio": 0.25}
    assert s.datasets[0].options == {"size": 24}


def test_null_in_including_file_restores_the_default(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: base\ndatasets: [{name: phantom_ct}, {name: phantom_mri}]\nattention: [{name: none}]\n"
                    "train: {epochs: 9, epochs_per_dataset: {phantom_ct: 30}}\n")
    child = tmp_path / "child.yaml"
    child.write_text("include: base.yaml\nname: child\ndatasets: [{name: phantom_mri}]\n"
                     "train: {epochs_per_dataset: null}\n")
    s = load_suite(child)
    assert s.train.epochs_per_dataset == {} and s.epochs_for("phantom_mri") == 9
    # Without the null, the inherited per-data-set epochs name a data set the child dropped.
    child.write_text("include: base.yaml\nname: child\ndatasets: [{name: phantom_mri}]\n")
    with pytest.raises(SuiteError, match="epochs_per_dataset names"):
        load_suite(child)


def test_override_into_list_index_out_of_range():
    raw = {"attention": [{"name": "none"}]}
    with pytest.raises(SuiteError, match="attention is a list of 1; '3' is not an index"):
        apply_override(raw, "attention.3.name=se")


def test_epochs_per_dataset_must_name_a_suite_dataset(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\ndatasets: [{name: phantom_ct}]\nattention: [{name: none}]\ntrain: {epochs_per_dataset: {ct: 5}}\n")
    with pytest.raises(SuiteError, match=r"s\.yaml: train\.epochs_per_dataset names \['ct'\], which are not in datasets"):
        load_suite(p)


def test_init_seeds_and_offsets_plan_distinct_initialisations(tmp_path):
    from medattn_bench.runner import plan

    p = tmp_path / "s.yaml"
    p.write_text("name: s\ndatasets: [{name: phantom_ct}]\n"
                 "attention: [{name: none}, {name: none, label: copy, init_offset: 1}]\nseeds: [0, 1]\ninit_seeds: 2\n")
    runs = plan(load_suite(p), records_dir=tmp_path / "r")
    assert len(runs) == 8 and len({r.config_hash for r in runs}) == 8
    first = [r for r in runs if r.attention.key == "none" and r.init_seed == 0]
    assert [r.torch_seed for r in first] == [0, 1]  # the wave-1 matrix: split seed = init seed
    assert len({r.torch_seed for r in runs}) == 8  # every model starts from its own initialisation
    assert {Path(r.path).name for r in runs} == {"seed0.json", "seed1.json", "seed0-init1.json", "seed1-init1.json"}


def test_builtin_name_lists_match_the_registries():
    from medattn_bench.attention import ATTENTION
    from medattn_bench.data import DATASETS
    from medattn_bench.names import BUILTIN_ATTENTION, BUILTIN_ATTENTION_INFO, BUILTIN_DATASET_INFO, BUILTIN_DATASETS

    assert sorted(BUILTIN_ATTENTION) == sorted(e.name for e in ATTENTION.entries() if e.origin == "built-in")
    assert sorted(BUILTIN_DATASETS) == DATASETS.names()
    # What `list` prints without importing torch is what the registries say.
    for e in ATTENTION.entries():
        if e.origin == "built-in":
            assert BUILTIN_ATTENTION_INFO[e.name] == (e.meta["paper"], e.meta.get("placement", "block")), e.name
    for e in DATASETS.entries():
        assert BUILTIN_DATASET_INFO[e.name] == (e.meta.get("description", ""), tuple(e.obj.options.model_fields)), e.name


def _cli_without_torch(argv: list[str]) -> str:
    """Run the CLI in a fresh interpreter; return its output, asserting torch was never imported."""
    import subprocess
    import sys

    code = (f"import sys; sys.argv = ['medattn-bench', *{argv!r}]\n"
            "from medattn_bench import cli\n"
            "try:\n    cli.app()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().endswith("NO TORCH"), out.stdout + out.stderr
    return out.stdout


def test_dry_run_imports_no_model_code():
    assert "48 runs" in _cli_without_torch(["run", "suites/paper.yaml", "--dry-run"])


@pytest.mark.parametrize("argv", [["list", "attention"], ["list", "datasets"]])
def test_list_imports_no_torch(argv):
    out = _cli_without_torch(argv)
    assert ("cbam" in out and "medattn-scse" in out) if argv[1] == "attention" else "phantom_mri" in out


def test_light_name_check(tmp_path, monkeypatch):
    import pytest

    from medattn_bench import names
    from medattn_bench.errors import SuiteError

    p = tmp_path / "s.yaml"
    p.write_text("name: s\ndatasets: [{name: phantom_ct}]\nattention: [{name: none}, {name: cbma}]\n")
    monkeypatch.setattr(names, "entry_point_names", lambda: ("scse",))
    with pytest.raises(SuiteError, match=r"attention\.1\.name: unknown attention block 'cbma'\. Did you mean 'cbam'"):
        load_suite(p, check=False)
    assert load_suite(p, check=False, plugins_given=True).attention[1].name == "cbma"  # a plugin may provide it
    p.write_text("name: s\ndatasets: [{name: phantom_ct}]\nattention: [{name: none}, {name: scse}]\n")
    assert load_suite(p, check=False).attention[1].name == "scse"  # an installed entry point's name
    p.write_text("name: s\ndatasets: [{name: phantom_cr}]\nattention: [{name: none}]\n")
    with pytest.raises(SuiteError, match=r"datasets\.0\.name: unknown data set 'phantom_cr'\. Did you mean 'phantom_cxr'"):
        load_suite(p, check=False)
