"""The four real data sets in the folder layouts their public releases use, plus generic sources
(``imagefolder``, ``csv``, ``medmnist``).

Every source is reduced to a list of :class:`Item` (path, label, official split, subclass) and
decoded once into a memory-mapped uint8 cache (see :mod:`medattn_bench.data.cache`), so training
never decodes an image file per epoch. Duplicate images (pixel-identical, or near-identical by a
perceptual hash) are grouped so that splits keep each group on one side.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..dataopts import CsvOptions, FolderOptions, MedmnistOptions, RealOptions
from .base import ImageSet, register_dataset

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
ENV_ROOT = "MEDATTN_DATA"


@dataclass(frozen=True)
class Item:
    path: Path
    label: int
    split: str  # official split of the source: train / val / test, or '' if it has none
    subclass: str
    patient: str | None = None  # patient or source case, where the file name carries it


def resolve_root(name: str, folder: str, opts_root: str | None, data_root: str | None,
                 detect: Callable[[Path], bool]) -> Path:
    """Find the data set's folder: the option, then ``--data-root``/suite ``data_root``, then
    ``$MEDATTN_DATA``; each candidate may be the data set's folder or its parent."""
    if opts_root and Path(opts_root).is_dir() and not detect(Path(opts_root)) and not detect(Path(opts_root) / folder):
        return Path(opts_root)  # an explicit folder: the loader then says which layout it expected and found
    looked = []
    for source, base in (("options.root", opts_root), ("--data-root / data_root", data_root),
                         (ENV_ROOT, os.environ.get(ENV_ROOT))):
        if not base:
            looked.append(f"{source} unset")
            continue
        for cand in (Path(base), Path(base) / folder):
            if cand.is_dir() and detect(cand):
                return cand
        looked.append(f"{base} (from {source})")
    raise DataError(f"data set {name!r}: its folder was not found; looked in: {'; '.join(looked)}. "
                    f"Get it with `medattn-bench data download {name} --to DIR` and pass --data-root DIR "
                    f"(or set {ENV_ROOT})")


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:  # d_type from the directory listing: no stat per file
        names = sorted(e.name for e in it if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)
    return [folder / n for n in names]


def _expect(root: Path, name: str, expected: str, found_ok: bool) -> None:
    if not found_ok:
        found = sorted(p.name for p in root.iterdir())[:12] if root.is_dir() else []
        raise DataError(f"{root}: not the {name} layout; expected {expected}, found {found or 'nothing'}")


# ------------------------------------------------------------------------------ native layouts


def _skin_detect(root: Path) -> bool:
    return (root / "train" / "benign").is_dir() or (root / "test" / "benign").is_dir()


def _skin_items(root: Path) -> list[Item]:
    _expect(root, "skin", "train|test/{benign,malignant}/*.jpg (Kaggle 'Skin Cancer: Malignant vs. Benign')",
            _skin_detect(root))
    return [Item(p, label, split, cls) for split in ("train", "test") for label, cls in enumerate(("benign", "malignant"))
            for p in _images_in(root / split / cls)]


def _cxr_detect(root: Path) -> bool:
    return (root / "chest_xray").is_dir() and any((root / "chest_xray" / s / "NORMAL").is_dir() for s in ("train", "test", "val"))


# Kermany et al. name each X-ray after its patient: person1234_bacteria_5.jpeg, IM-0115-0001.jpeg,
# NORMAL2-IM-0173-0001.jpeg (the NORMAL2 series numbers its patients separately).
_CXR_PATIENT = re.compile(r"^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-")


def cxr_patient(name: str) -> str | None:
    m = _CXR_PATIENT.match(name)
    return (m.group(1) or m.group(2)) if m else None


def _cxr_items(root: Path) -> list[Item]:
    _expect(root, "cxr", "chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg (Kermany et al. 2018)", _cxr_detect(root))
    items = []
    for split in ("train", "val", "test"):
        for label, cls in enumerate(("NORMAL", "PNEUMONIA")):
            for p in _images_in(root / "chest_xray" / split / cls):
                sub = "normal" if label == 0 else ("virus" if "virus" in p.name.lower() else
                                                   "bacteria" if "bacteria" in p.name.lower() else "pneumonia")
                items.append(Item(p, label, split, sub, cxr_patient(p.name)))
    return items


MRI_CLASSES = ("glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor")


def _mri_detect(root: Path) -> bool:
    return any((root / s / "no_tumor").is_dir() for s in ("Training", "Testing"))


def _mri_items(root: Path) -> list[Item]:
    _expect(root, "mri", "Training|Testing/{glioma_tumor,meningioma_tumor,no_tumor,pituitary_tumor}/*.jpg "
            "(Bhuvaji et al. 2020)", _mri_detect(root))
    # The three tumour folders merge into 'tumor'; the subtype is kept as metadata.
    return [Item(p, int(cls != "no_tumor"), "train" if split == "Training" else "test", cls)
            for split in ("Training", "Testing") for cls in MRI_CLASSES for p in _images_in(root / split / cls)]


def _ct_detect(root: Path) -> bool:
    return (root / "Images-processed" / "CT_COVID").is_dir()


# UCSD COVID-CT: COVID images are cut from papers, named <paper>-p<page>-<figure>[%<slice>].png,
# so one page (one figure's patient) is one group; NonCOVID cases number their slices <case>%<i>.
_CT_PAGE = re.compile(r"^(.*-p\d+)-\d+(?:%\d+)?\.\w+$")


def ct_patient(tag: str, name: str) -> str | None:
    m = _CT_PAGE.match(name)
    if m:
        return f"{tag}/{m.group(1)}"
    return f"{tag}/{name.split('%')[0]}" if "%" in name else None


def _ct_items(root: Path) -> list[Item]:
    _expect(root, "ct", "Images-processed/{CT_COVID,CT_NonCOVID}/* and Data-split/{COVID,NonCOVID}/*.txt "
            "(UCSD COVID-CT)", _ct_detect(root))
    split_of: dict[str, str] = {}
    for cls, tag in (("COVID", "CT_COVID"), ("NonCOVID", "CT_NonCOVID")):
        for split in ("train", "val", "test"):
            lst = root / "Data-split" / cls / f"{split}{tag}.txt"
            if lst.is_file():
                for line in lst.read_text(errors="replace").splitlines():
                    if line.strip():
                        split_of[f"{tag}/{line.strip()}"] = split
    items = []
    for label, tag in ((0, "CT_NonCOVID"), (1, "CT_COVID")):
        for p in _images_in(root / "Images-processed" / tag):
            items.append(Item(p, label, split_of.get(f"{tag}/{p.name}", ""), tag, ct_patient(tag, p.name)))
    return items


PATIENT_NAMED = frozenset({"cxr", "ct"})  # native data sets whose file names carry patients

NATIVE = {
    # name: (folder under the data root, detect, items, classes, default channels)
    "skin": ("skin", _skin_detect, _skin_items, ("benign", "malignant"), 3),
    "cxr": ("cxr", _cxr_detect, _cxr_items, ("normal", "pneumonia"), 1),
    "mri": ("mri", _mri_detect, _mri_items, ("no_tumor", "tumor"), 1),
    "ct": ("ct", _ct_detect, _ct_items, ("noncovid", "covid"), 1),
}


def detect_layout(root: Path) -> str | None:
    """Which native layout ``root`` holds, if any."""
    return next((name for name, (_, detect, *_rest) in NATIVE.items() if detect(root)), None)


def items_for(name: str, root: Path) -> list[Item]:
    items = NATIVE[name][2](root)
    _check_classes(name, root, items, NATIVE[name][3])
    return items


def _check_classes(name: str, root: Path, items: list[Item], classes: tuple[str, str]) -> None:
    counts = np.bincount([i.label for i in items], minlength=2)
    empty = [classes[k] for k in (0, 1) if counts[k] == 0]
    if empty:
        raise DataError(f"{root}: data set {name!r} has no images of class {', '.join(map(repr, empty))} "
                        f"(counts: {dict(zip(classes, counts.tolist()))}); a binary task needs both")


def _register_native(name: str) -> None:
    folder, detect, _, classes, channels = NATIVE[name]

    @register_dataset(name, RealOptions, description=f"real {name} data in its public layout ({classes[0]} / {classes[1]})")
    def factory(opts: RealOptions, data_root: str | None = None) -> ImageSet:
        from .cache import load_items

        root = resolve_root(name, folder, opts.root, data_root, detect)
        return load_items(name, root, items_for(name, root), classes, opts, opts.channels or channels)


for _n in NATIVE:
    _register_native(_n)


# ----------------------------------------------------------------------------- generic sources


@register_dataset("imagefolder", FolderOptions, description="one subfolder per class (optionally under train/ and test/)")
def _imagefolder(opts: FolderOptions, data_root: str | None = None) -> ImageSet:
    from .cache import load_items

    root = Path(opts.root if Path(opts.root).is_absolute() or not data_root else Path(data_root) / opts.root)
    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a folder")
    splits = [s for s in ("train", "val", "test") if (root / s).is_dir()] or [""]
    base = root / splits[0] if splits[0] else root
    classes = opts.classes or tuple(sorted(p.name for p in base.iterdir() if p.is_dir()))
    if len(classes) != 2:
        raise DataError(f"imagefolder {root}: expected 2 class subfolders, found {list(classes)}; "
                        "set options.classes: [negative, positive]")
    pattern = None
    if opts.group_pattern:
        try:
            pattern = re.compile(opts.group_pattern)
        except re.error as exc:
            raise DataError(f"imagefolder: options.group_pattern {opts.group_pattern!r} is not a regular expression: "
                            f"{exc}") from None
        if pattern.groups < 1:
            raise DataError(f"imagefolder: options.group_pattern {opts.group_pattern!r} needs a capture group, "
                            r"e.g. '^(patient\d+)_'")

    def patient(name: str) -> str | None:
        m = pattern.search(name) if pattern else None
        return m.group(1) if m else None

    items = [Item(p, label, s, cls, patient(p.name)) for s in splits for label, cls in enumerate(classes)
             for p in _images_in((root / s if s else root) / cls)]
    _check_classes("imagefolder", root, items, classes)  # type: ignore[arg-type]
    return load_items("imagefolder", root, items, classes, opts, opts.channels or 3)  # type: ignore[arg-type]


@register_dataset("csv", CsvOptions, description="CSV with columns path,label[,split,group]; paths relative to the file")
def _csv(opts: CsvOptions, data_root: str | None = None) -> ImageSet:
    from .cache import load_items

    path = Path(opts.root)
    if not path.is_file():
        raise DataError(f"csv: {path} is not a file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}; expected path,label[,split,group], "
                            f"found {reader.fieldnames}")
        rows = list(reader)
    negative = opts.negative
    if negative is None:
        others = sorted({r["label"] for r in rows} - {opts.positive})
        negative = others[0] if len(others) == 1 else ("0" if opts.positive == "1" else None)
        if negative is None and len(others) > 1:
            raise DataError(f"{path}: labels {others[:5]} besides the positive {opts.positive!r}; name the negative "
                            "class with options.negative (or negative: '*' to make every other value negative)")
    for line, r in enumerate(rows, start=2):
        if r["label"] != opts.positive and negative != "*" and r["label"] != negative:
            raise DataError(f"{path}, line {line}: label {r['label']!r} is neither positive {opts.positive!r} nor "
                            f"negative {negative!r} (set options.positive / options.negative, or negative: '*' "
                            "to make every other value negative)")
        if not (path.parent / (r["path"] or "")).is_file() or not r["path"]:
            raise DataError(f"{path}, line {line}: image {r['path']!r} not found (paths are relative to the CSV file)")
    items = [Item(path.parent / r["path"], int(r["label"] == opts.positive), r.get("split") or "", r["label"],
                  r.get("group") or None) for r in rows]
    _check_classes("csv", path, items, ("negative", opts.positive))
    return load_items("csv", path.parent, items, ("negative", opts.positive), opts, opts.channels or 3)


@register_dataset("medmnist", MedmnistOptions, description="MedMNIST v2 .npz; a label subset forms the positive class")
def _medmnist(opts: MedmnistOptions, data_root: str | None = None) -> ImageSet:
    import torch

    path = Path(opts.path) if Path(opts.path).is_absolute() or not data_root else Path(data_root) / opts.path
    if not path.is_file():
        raise DataError(f"medmnist: {path} not found; download e.g. pneumoniamnist.npz from zenodo.org/records/10519652")
    try:
        npz = np.load(path)
        parts = [(s, npz[f"{s}_images"], npz[f"{s}_labels"]) for s in ("train", "val", "test")]
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a MedMNIST npz ({exc}); expected keys train_images, train_labels, val_images, "
                        "val_labels, test_images, test_labels") from None
    for s, im, lab in parts:
        if im.ndim not in (3, 4) or (im.ndim == 4 and im.shape[-1] not in (1, 3)):
            raise DataError(f"{path}: {s}_images has shape {im.shape}; expected (N, H, W) or (N, H, W, 1 or 3)")
        if len(lab) != len(im):
            raise DataError(f"{path}: {s}_images holds {len(im)} images but {s}_labels {len(lab)} labels")
    images = np.concatenate([p[1] for p in parts])
    labels = np.isin(np.concatenate([p[2] for p in parts]).reshape(len(images), -1)[:, 0], opts.positive).astype(np.int64)
    split = np.concatenate([[s] * len(p[1]) for s, p in zip(("train", "val", "test"), parts)])
    x = torch.from_numpy(images)
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if opts.size and opts.size != x.shape[-1]:
        from .prepare import prepare_images

        x = prepare_images(x, opts.size)[:, : x.shape[1]]
    ids = [f"{path.stem}/{s}/{i}" for s, p in zip(("train", "val", "test"), parts) for i in range(len(p[1]))]
    return ImageSet(x.contiguous(), labels, ids, ("negative", "positive"), official_split=split,
                    meta={"source": "medmnist", "file": path.name, "positive": opts.positive})


