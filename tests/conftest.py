import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def shared_datasets() -> Path:
    path = SHARED / "datasets"
    if not path.is_dir():
        pytest.fail(f"../shared/datasets is missing (looked in {path}); the real-data tests need it", pytrace=False)
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Decoded data and the device probe are cached per test session, never in the user's home;
    analyses are not cached."""
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    # every test computes its analyses (a test that patches a statistic must see it used);
    # tests/test_analysis_cache.py turns the cache on where it is the subject
    monkeypatch.setenv("MEDATTN_ANALYSIS_CACHE", "off")


# A small trained board, trained once per test session (per xdist worker) and shared by the tests of
# renderers, vetting, submissions and families: a new such test needs no training of its own. Tests
# that change records work on a copy (``TinyBoard.copy``). Pinned to one thread, fp32 and NCHW so
# ``verify`` re-trains its records bit for bit on the machine that made them.
TINY_BOARD = """\
name: tinyboard
description: a small trained board shared by the tests
datasets:
  - {name: phantom_ct, options: {n_per_class: 20, size: 16}}
  - {name: phantom_mri, options: {n_per_class: 20, size: 16}}
attention: [{name: none}, {name: se}, {name: gc}]
seeds: [0, 1, 2]
train: {epochs: 2, batch_size: 8, image_size: 16, lr: 0.01, threads: 1, precision: fp32, channels_last: false}
eval: {stats: {n_resamples: 200}, cost: {throughput: false}, cam: {localisation: false}}
paper_reference:
  phantom_ct: {none: 80.0, se: 84.0, gc: 79.0}
"""


@dataclass(frozen=True)
class TinyBoard:
    suite_file: Path  # tinyboard.yaml
    records: Path  # the records root: records/tinyboard/<data set>/<variant>/seedS.json

    def copy(self, dest: Path) -> Path:
        """A copy of the records root under ``dest`` (the suite file stays shared): the root."""
        shutil.copytree(self.records, dest / "records")
        return dest / "records"


# A second small board with what the checks of the tests need: an A/A copy of the baseline (with
# sequential A/A looks), throughput rounds and Grad-CAM localisation; one epoch. Shared by the
# tests of the markdown board and of the exports.
CHECKS_BOARD = """\
name: tiny
description: tiny test suite
datasets:
  - {name: phantom_ct, options: {n_per_class: 20, size: 16}}
  - {name: phantom_mri, options: {n_per_class: 20, size: 16}}
attention: [{name: none}, {name: se}, {name: gc}, {name: none, label: none_b, init_offset: 1}]
seeds: [0, 1, 2]
train: {epochs: 1, batch_size: 8, image_size: 16, lr: 0.01}
eval: {stats: {n_resamples: 300, aa_block: 2, aa_looks: [2, 3]}, cost: {throughput: true, repeats: 1, warmup: 0},
       cam: {localisation: true, max_images: 4}}
"""


def _trained(tmp_path_factory, text: str) -> TinyBoard:
    from medattn_bench.runner import plan, run_suite
    from medattn_bench.suite import load_suite

    name = text.split("\n", 1)[0].split(":", 1)[1].strip()
    tmp = tmp_path_factory.mktemp(name)
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    s = load_suite(path)
    rec = tmp / "records" / name
    run_suite(s, str(path), plan(s, records_dir=rec), records_dir=rec, log=lambda m: None)
    return TinyBoard(path, tmp / "records")


@pytest.fixture(scope="session")
def boards(tmp_path_factory) -> Callable[[str], TinyBoard]:
    """Trained boards by suite text: each text is trained once per session (per xdist worker), in
    the first test that asks for it, and shared by every test that asks again. The two below serve
    most tests; a test file whose subject needs other settings (tests/test_trust.py: precision and
    memory format left to ``auto``, which ``verify`` must resolve from the record) asks for its own
    text here, and any other test may then use that board too."""
    made: dict[str, TinyBoard] = {}

    def get(text: str) -> TinyBoard:
        if text not in made:
            made[text] = _trained(tmp_path_factory, text)
        return made[text]

    return get


@pytest.fixture(scope="session")
def tiny_board(boards) -> TinyBoard:
    return boards(TINY_BOARD)


@pytest.fixture(scope="session")
def checks_board(boards) -> TinyBoard:
    return boards(CHECKS_BOARD)
