"""The analysis cache: the same board from the cache as from the records, recomputed whenever a
record, the settings or the code change, and a planted entry never run."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest

from medattn_bench.analysis import cache as analysis_cache
from medattn_bench.analysis import suite as analysis_suite
from medattn_bench.leaderboard import render
from medattn_bench.records import load_records, load_suite_infos

DEMO = Path(__file__).resolve().parents[1] / "leaderboard" / "records" / "demo"


@pytest.fixture
def demo(tmp_path, monkeypatch):
    folder = tmp_path / "records" / "demo"
    shutil.copytree(DEMO, folder)
    monkeypatch.setenv("MEDATTN_ANALYSIS_CACHE", "on")
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache"))
    calls = []
    real = analysis_suite._analyse_suite

    def counting(*args, **kw):
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(analysis_suite, "_analyse_suite", counting)
    return folder, calls, tmp_path / "cache" / "analysis"


def _board(folder: Path) -> str:
    recs, problems = load_records(folder.parent)
    assert not problems
    infos, _ = load_suite_infos(folder.parent)
    return render(recs, infos)


def test_a_cached_analysis_renders_the_same_board_and_is_not_recomputed(demo):
    folder, calls, where = demo
    first = _board(folder)
    assert calls == ["demo"] and len(list(where.glob("*.pickle"))) == 1
    second = _board(folder)
    assert calls == ["demo"], "the second render computed the analysis again"
    assert second == first


def test_an_edited_or_removed_record_is_a_new_key(demo):
    folder, calls, where = demo
    first = _board(folder)
    victim = sorted(folder.rglob("seed*.json"))[0]
    victim.write_text(victim.read_text() + "\n")  # same record, other text: another sha256
    _board(folder)
    assert calls == ["demo", "demo"]
    victim.unlink()
    third = _board(folder)
    assert calls == ["demo", "demo", "demo"] and third != first


def test_other_code_is_a_new_key(demo, monkeypatch):
    folder, calls, _ = demo
    _board(folder)
    monkeypatch.setattr(analysis_cache, "_code", "another version of the code")
    _board(folder)
    assert calls == ["demo", "demo"]


def test_a_planted_or_damaged_entry_is_recomputed_and_never_run(demo, tmp_path):
    folder, calls, where = demo
    first = _board(folder)
    (entry,) = where.glob("*.pickle")
    marker = tmp_path / "ran"

    class Planted:
        def __reduce__(self):
            return (Path.touch, (marker,))

    entry.write_bytes(pickle.dumps(Planted()))
    assert _board(folder) == first
    assert not marker.exists(), "a global outside the analysis's own classes was called"
    assert calls == ["demo", "demo"]
    entry.write_bytes(b"\x80\x05 not a pickle")
    assert _board(folder) == first and calls == ["demo", "demo", "demo"]


def test_off_means_off(demo, monkeypatch):
    folder, calls, where = demo
    monkeypatch.setenv("MEDATTN_ANALYSIS_CACHE", "off")
    _board(folder)
    _board(folder)
    assert calls == ["demo", "demo"] and not where.exists()
