"""Real data: the four shared subsets through the native loaders, duplicates, quirks, cache,
MedMNIST/CSV sources, and downloads against a local HTTP server."""

import csv
import http.server
import io
import json
import os
import re
import threading
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medattn_bench.data import load_dataset
from medattn_bench.data.download import download
from medattn_bench.data.real import items_for
from medattn_bench.data.splits import stratified_split
from medattn_bench.errors import DataError


# Per (source split, folder) counts as listed in ../shared/datasets/README.md.
README_COUNTS = {
    "skin": {("train", "benign"): 239, ("train", "malignant"): 234, ("test", "benign"): 61, ("test", "malignant"): 66},
    "cxr": {("train", "normal"): 253, ("train", "bacteria"): None, ("test", "normal"): 47},
    "mri": {("train", "glioma_tumor"): 95, ("train", "meningioma_tumor"): 77, ("train", "no_tumor"): 240,
            ("train", "pituitary_tumor"): 94, ("test", "glioma_tumor"): 14, ("test", "meningioma_tumor"): 12,
            ("test", "no_tumor"): 60, ("test", "pituitary_tumor"): 8},
}


@pytest.mark.parametrize("name", ["skin", "cxr", "mri", "ct"])
def test_shared_subsets_through_native_loaders(shared_datasets, name):
    root = shared_datasets / name
    items = items_for(name, root)
    per_label = Counter(it.label for it in items)
    assert per_label == {0: 300, 1: 300}
    # The manifest lists every file with its source split and subclass: the loader must agree.
    with (root / "manifest.csv").open() as fh:
        manifest = list(csv.DictReader(fh))
    assert sorted(str(it.path.relative_to(root)) for it in items) == sorted(r["path"] for r in manifest)
    if name == "skin":
        assert Counter((it.split, it.subclass) for it in items) == README_COUNTS["skin"]
    if name == "mri":
        assert Counter((it.split, it.subclass) for it in items) == README_COUNTS["mri"]
    if name == "cxr":
        by = Counter((it.split, it.label) for it in items)
        assert by == {("train", 0): 253, ("train", 1): 267, ("test", 0): 47, ("test", 1): 33}
        assert {it.subclass for it in items if it.label == 1} == {"bacteria", "virus"}
    if name == "ct":
        by = Counter((it.subclass, it.split) for it in items)
        assert by == {("CT_COVID", "train"): 163, ("CT_COVID", "val"): 53, ("CT_COVID", "test"): 84,
                      ("CT_NonCOVID", "train"): 173, ("CT_NonCOVID", "val"): 45, ("CT_NonCOVID", "test"): 82}
    ds = load_dataset(name, {"size": 32}, str(shared_datasets))
    assert len(ds) == 600 and np.bincount(ds.labels).tolist() == [300, 300]
    assert ds.images.dtype.is_floating_point is False and ds.images.shape[-2:] == (32, 32)


def test_shared_mri_duplicates_do_not_leak(shared_datasets):
    ds = load_dataset("mri", {"size": 32}, str(shared_datasets))
    audit = ds.meta["audit"]
    assert audit["groups"] > 20 and audit["cross_official_split"] > 10  # the known MRI problem
    leaks_naive = 0
    for seed in range(3):
        tr, te = stratified_split(ds.labels, "mri", seed, groups=ds.groups)
        assert not set(ds.groups[tr]) & set(ds.groups[te])
        ntr, nte = stratified_split(ds.labels, "mri", seed)
        leaks_naive += len(set(ds.groups[ntr]) & set(ds.groups[nte]))
    assert leaks_naive > 0


@pytest.mark.parametrize("name", ["cxr", "ct"])
def test_shared_patients_stay_on_one_side_of_every_split(shared_datasets, name):
    """Kermany X-ray names carry patients, UCSD CT names their source page or case: a split blind
    to them puts one patient on both sides; the default split (patient groups merged with
    duplicate groups) never does, for 80/20 splits and for k-fold."""
    from medattn_bench.execute import split_groups, split_indices
    from medattn_bench.suite import SplitSpec

    ds = load_dataset(name, {"size": 32}, str(shared_datasets))
    info = ds.meta["patients"]
    assert info["with_several_images"] > 20 and ds.patients is not None
    leaks_naive = 0
    for spec in (SplitSpec(), SplitSpec(kind="kfold", folds=5)):
        for seed in range(3):
            tr, te = split_indices(ds, name, spec, seed)
            assert not set(ds.patients[tr]) & set(ds.patients[te])
            assert not set(ds.groups[tr]) & set(ds.groups[te])
            blind = spec.model_copy(update={"patient_groups": False, "group_duplicates": False})
            ntr, nte = split_indices(ds, name, blind, seed)
            leaks_naive += len(set(ds.patients[ntr]) & set(ds.patients[nte]))
    assert leaks_naive > 0
    assert len(np.unique(split_groups(ds, SplitSpec()))) < len(np.unique(ds.groups))
    from medattn_bench.execute import _leakage

    tr, te = split_indices(ds, name, SplitSpec(), 0)
    leak = _leakage(ds, name, SplitSpec(), 0, tr, te)["patients"]
    ntr, nte = split_indices(ds, name, SplitSpec(patient_groups=False, group_duplicates=False), 0)
    cut = set(ds.patients[ntr]) & set(ds.patients[nte])
    assert leak["crossing_split"] == 0 and leak["would_leak_without_grouping"] == len(cut) > 0
    assert leak["test_images_in_groups_a_blind_split_cuts"] == sum(p in cut for p in ds.patients[te])


def test_kfold_tests_each_image_once_per_repeat(shared_datasets):
    from medattn_bench.execute import split_indices
    from medattn_bench.suite import SplitSpec

    ds = load_dataset("ct", {"size": 32}, str(shared_datasets))
    spec = SplitSpec(kind="kfold", folds=4)
    tests = [split_indices(ds, "ct", spec, s)[1] for s in range(4)]  # seeds 0-3: repeat 0, folds 0-3
    both = np.concatenate(tests)
    assert len(both) == len(ds) and len(np.unique(both)) == len(ds)
    shares = [ds.labels[t].mean() for t in tests]
    assert max(shares) - min(shares) < 0.1  # stratified
    assert not np.array_equal(np.sort(split_indices(ds, "ct", spec, 4)[1]), np.sort(tests[0]))  # repeat 1 reshuffles


def _noise_image(rng, size=40, mode="RGB"):
    from scipy import ndimage

    # Smooth random structure, like real images: a perceptual hash is stable under resizing then.
    arr = ndimage.gaussian_filter(rng.random((size, size, 3)), sigma=(3, 3, 0))
    arr = (arr - arr.min()) / (arr.max() - arr.min()) * 255
    return Image.fromarray(arr.astype(np.uint8)).convert(mode)


def _folder(root: Path, n=30, planted=8, seed=0) -> dict:
    """An imagefolder with ``planted`` exact and ``planted`` near duplicates (re-encoded, resized)."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for i in range(n):
        cls = "pos" if i % 2 else "neg"
        (root / cls).mkdir(parents=True, exist_ok=True)
        img = _noise_image(rng)
        img.save(root / cls / f"img{i:03d}.png")
        if i < planted:
            img.save(root / cls / f"img{i:03d}_copy.png")
            pairs[f"{cls}/img{i:03d}.png"] = f"{cls}/img{i:03d}_copy.png"
        elif i < 2 * planted:
            img.resize((44, 44), Image.BILINEAR).save(root / cls / f"img{i:03d}_near.jpg", quality=92)
            pairs[f"{cls}/img{i:03d}.png"] = f"{cls}/img{i:03d}_near.jpg"
    return pairs


def test_planted_duplicates_never_cross_the_split(tmp_path):
    pairs = _folder(tmp_path / "f")
    ds = load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 32})
    gid = dict(zip(ds.ids, ds.groups))
    for a, b in pairs.items():
        assert gid[a] == gid[b], f"{a} and {b} should be one group"
    assert ds.meta["audit"]["groups"] == len(pairs)
    for seed in range(10):
        tr, te = stratified_split(ds.labels, "planted", seed, groups=ds.groups)
        assert not set(ds.groups[tr]) & set(ds.groups[te])
    no_near = load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 32, "near_duplicates": False})
    assert no_near.meta["audit"]["groups"] == 8  # only the exact copies


def test_corrupt_image_fails_in_one_line_or_is_skipped(tmp_path):
    _folder(tmp_path / "f", n=6, planted=0)
    bad = tmp_path / "f" / "pos" / "broken.jpg"
    buf = io.BytesIO()
    _noise_image(np.random.default_rng(1)).save(buf, format="JPEG")
    bad.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # truncated
    (tmp_path / "f" / "pos" / "notes.txt").write_text("not an image")  # ignored
    with pytest.raises(DataError, match=r"1 unreadable image\(s\): .*broken\.jpg .*set the data set option skip_corrupt: true"):
        load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 16})
    ds = load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 16, "skip_corrupt": True})
    assert len(ds) == 6 and ds.meta["skipped_corrupt"] == 1


def test_single_class_and_wrong_layout_are_clear_errors(tmp_path):
    (tmp_path / "one" / "neg").mkdir(parents=True)
    (tmp_path / "one" / "pos").mkdir(parents=True)
    _noise_image(np.random.default_rng(0)).save(tmp_path / "one" / "neg" / "a.png")
    with pytest.raises(DataError, match=r"has no images of class 'pos'"):
        load_dataset("imagefolder", {"root": str(tmp_path / "one")})
    with pytest.raises(DataError, match=r"not the mri layout; expected Training\|Testing/.*found \['neg', 'pos'\]"):
        load_dataset("mri", {"root": str(tmp_path / "one")})
    with pytest.raises(DataError, match=r"data set 'ct': its folder was not found; looked in: .*medattn-bench data download ct"):
        load_dataset("ct", {}, None)


def test_modes_are_converted_deterministically(tmp_path):
    root = tmp_path / "m"
    for cls in ("neg", "pos"):
        (root / cls).mkdir(parents=True)
    rgba = Image.new("RGBA", (20, 10), (200, 100, 50, 0))  # fully transparent -> black
    rgba.save(root / "neg" / "rgba.png")
    Image.new("L", (30, 30), 77).save(root / "pos" / "gray.png")
    Image.new("RGB", (61, 200), (10, 20, 30)).convert("P").save(root / "pos" / "pal.png")
    ds = load_dataset("imagefolder", {"root": str(root), "size": 16})
    assert ds.images.shape == (3, 3, 16, 16)
    by = dict(zip(ds.ids, ds.images))
    assert by["neg/rgba.png"].max() == 0
    assert (by["pos/gray.png"] == 77).all()
    again = load_dataset("imagefolder", {"root": str(root), "size": 16, "channels": 1})
    assert again.images.shape == (3, 1, 16, 16)


def test_cache_is_reused_and_rebuilt_when_the_source_changes(tmp_path):
    _folder(tmp_path / "f", n=6, planted=0)
    first = load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 16})
    second = load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 16})
    assert not first.meta["cached"] and second.meta["cached"]
    assert (first.images == second.images).all()
    victim = tmp_path / "f" / "neg" / "img000.png"
    _noise_image(np.random.default_rng(9)).save(victim)
    os.utime(victim, ns=(1, 1))
    third = load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 16})
    assert not third.meta["cached"]
    assert not load_dataset("imagefolder", {"root": str(tmp_path / "f"), "size": 24}).meta["cached"]


def test_medmnist_and_csv_sources(tmp_path):
    rng = np.random.default_rng(0)
    parts = {s: (rng.integers(0, 255, (n, 28, 28), dtype=np.uint8), rng.integers(0, 7, (n, 1)))
             for s, n in (("train", 20), ("val", 5), ("test", 8))}
    np.savez(tmp_path / "derma.npz", **{f"{s}_images": x for s, (x, _) in parts.items()},
             **{f"{s}_labels": y for s, (_, y) in parts.items()})
    ds = load_dataset("medmnist", {"path": str(tmp_path / "derma.npz"), "positive": [4]})  # melanoma vs rest
    labels = np.concatenate([y[:, 0] for _, y in parts.values()])
    assert ds.labels.tolist() == (labels == 4).astype(int).tolist()
    assert ds.images.shape == (33, 1, 28, 28) and Counter(ds.official_split.tolist()) == {"train": 20, "val": 5, "test": 8}
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="not a MedMNIST npz"):
        load_dataset("medmnist", {"path": str(tmp_path / "bad.npz")})

    _folder(tmp_path / "f", n=6, planted=0)
    rows = [{"path": f"f/{c}/img{i:03d}.png", "label": "malignant" if c == "pos" else "benign", "group": f"p{i // 2}"}
            for i, c in enumerate(["neg", "pos"] * 3)]
    with (tmp_path / "list.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["path", "label", "group"])
        w.writeheader()
        w.writerows(rows)
    ds = load_dataset("csv", {"root": str(tmp_path / "list.csv"), "positive": "malignant", "size": 16})
    assert ds.labels.tolist() == [0, 1] * 3 and len(set(ds.patients.tolist())) == 3


# ------------------------------------------------------------------------------------ downloads


def _zip_bytes(tmp_path) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for split in ("Training", "Testing"):
            for cls in ("no_tumor", "glioma_tumor"):
                for i in range(2):
                    b = io.BytesIO()
                    _noise_image(rng, 24).save(b, format="JPEG")
                    zf.writestr(f"Brain-Tumor-main/{split}/{cls}/image({i}).jpg", b.getvalue())
    return buf.getvalue()


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server: /good.zip, /short.zip (claims more bytes than it sends), /denied.zip (401)."""
    payload = _zip_bytes(tmp_path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/denied.zip":
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload) * (2 if self.path == "/short.zip" else 1)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", payload
    httpd.shutdown()
    httpd.server_close()


def test_download_installs_atomically_and_records_the_checksum(tmp_path, server):
    import hashlib

    base, payload = server
    sha = hashlib.sha256(payload).hexdigest()
    path = download("mri", tmp_path / "data", url=f"{base}/good.zip", sha256=sha, log=lambda m: None)
    assert path == tmp_path / "data" / "mri"
    assert len(items_for("mri", path)) == 8
    assert json.loads((path / "SOURCE.json").read_text())["sha256"] == sha
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mri"]  # no leftovers


@pytest.mark.parametrize("case, match", [
    ("checksum", r"sha256 mismatch \(expected 0+, got [0-9a-f]{64}\); the file was discarded"),
    ("interrupted", r"download interrupted \(.*\d+ bytes read.*\); nothing was installed"),
])
def test_failed_download_leaves_nothing(tmp_path, server, case, match):
    base, _ = server
    url = f"{base}/{'good' if case == 'checksum' else 'short'}.zip"
    with pytest.raises(DataError, match=match):
        download("mri", tmp_path / "data", url=url, sha256="0" * 64 if case == "checksum" else None, log=lambda m: None)
    assert list((tmp_path / "data").iterdir()) == []


def test_refused_credentials_name_the_url(tmp_path, server):
    base, _ = server
    with pytest.raises(DataError, match=r"denied\.zip: HTTP 401: the server refused the credentials"):
        download("mri", tmp_path / "data", url=f"{base}/denied.zip", log=lambda m: None)
    assert list((tmp_path / "data").iterdir()) == []


def test_kaggle_without_credentials_says_how_to_get_the_files(tmp_path, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "nokaggle"))
    with pytest.raises(DataError, match=r"no Kaggle credentials were found .* download https://www\.kaggle\.com/datasets/"
                                        r"fanconic/skin-cancer-malignant-vs-benign by hand"):
        download("skin", tmp_path / "data", log=lambda m: None)


def test_data_info_and_audit_commands(shared_datasets):
    from typer.testing import CliRunner

    from medattn_bench import cli

    runner = CliRunner()
    info = runner.invoke(cli.app, ["data", "info", "mri", "--data-root", str(shared_datasets)])
    assert info.exit_code == 0, info.output
    assert "600 images" in info.output and "per label: {0: 300, 1: 300}" in info.output
    assert re.search(r"test\s+pituitary_tumor\s+1\s+8", info.output)
    audit = runner.invoke(cli.app, ["data", "audit", str(shared_datasets / "mri"), "--show", "3"])
    assert audit.exit_code == 0, audit.output
    ds = load_dataset("mri", {"size": 32}, str(shared_datasets))
    assert f"{ds.meta['audit']['groups']} duplicate groups" in audit.output
    assert audit.output.count("- group of ") == 3 and "crosses official split" in audit.output
    strict = runner.invoke(cli.app, ["data", "audit", str(shared_datasets / "mri"), "--threshold", "0"])
    assert strict.exit_code == 0 and strict.output != audit.output


def test_data_audit_reports_patients(shared_datasets):
    from typer.testing import CliRunner

    from medattn_bench import cli

    out = CliRunner().invoke(cli.app, ["data", "audit", "cxr", "--data-root", str(shared_datasets), "--show", "2"])
    assert out.exit_code == 0, out.output
    ds = load_dataset("cxr", {"size": 64, "skip_corrupt": True, "hash_threshold": 8}, str(shared_datasets))
    p = ds.meta["patients"]
    assert p["patients"] > 100 and p["with_several_images"] > 20
    assert (f"{p['patients']} patients or source cases named by the files, {p['with_several_images']} with several "
            f"images ({p['images_of_those']} images); {p['cross_official_split']} of them with images on both sides") in out.output
