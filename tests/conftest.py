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
