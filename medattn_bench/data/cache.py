"""Decode once, then memory-map: images are decoded, converted and resized a single time into a
uint8 ``.npy`` file keyed by a fingerprint of the source (paths, sizes, mtimes, labels, splits)
and of the preprocessing parameters; either changing rebuilds it. Also computes each image's
exact pixel hash and 256-bit difference hash, from which duplicate groups are formed."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError
from .base import ImageSet

CACHE_VERSION = 2
CACHE_ENV = "MEDATTN_CACHE"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "medattn_bench")


def relative_ids(root: Path, items: list) -> list[str]:
    """Item paths relative to ``root`` (plain string work: pathlib's relative_to dominated a cached load)."""
    prefix = str(root).rstrip(os.sep) + os.sep
    return [str(it.path)[len(prefix):] if str(it.path).startswith(prefix) else str(it.path) for it in items]


def fingerprint(root: Path, items: list, params: dict[str, Any], ids: list[str]) -> str:
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, **params}, sort_keys=True).encode())
    for it, rel in zip(items, ids):
        st = os.stat(it.path)
        h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns}|{it.label}|{it.split}|{it.subclass}\n".encode())
    return h.hexdigest()[:20]


def decode(path: Path, size: int, channels: int) -> tuple[np.ndarray, str, str, str, tuple[int, int]]:
    """(C x size x size uint8, exact pixel hash, dHash, source mode, source size) of one file.

    Deterministic conversion: EXIF orientation applied, alpha composited on black, palette and
    16-bit modes converted, then grayscale or RGB; shorter side resized to ``size`` (bilinear with
    antialiasing), centre crop.
    """
    with Image.open(path) as im:
        im.load()  # decode now, so truncated files fail here
        mode, src_size = im.mode, im.size
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im.convert("RGBA"))
        if im.mode in ("I;16", "I;16B", "I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            lo, hi = arr.min(), arr.max()
            im = Image.fromarray(((arr - lo) / (hi - lo or 1) * 255).astype(np.uint8))
        im = im.convert("L" if channels == 1 else "RGB")
        exact = hashlib.sha1(im.tobytes() + repr(im.size).encode()).hexdigest()
        # 256-bit dHash (16x16 horizontal gradients): 64 bits let look-alike chest X-rays collide.
        g = np.asarray(im.convert("L").resize((17, 16), Image.BILINEAR), dtype=np.int16)
        dhash = np.packbits((g[:, 1:] > g[:, :-1]).ravel()).tobytes().hex()
        w, h = im.size
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        im = im.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr), exact, dhash, mode, src_size


def _decode_safe(args: tuple[Path, int, int]) -> tuple | str:
    path, size, channels = args
    try:
        return decode(path, size, channels)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"{type(exc).__name__}: {exc}"


def build_cache(root: Path, items: list, size: int, channels: int, target: Path) -> dict[str, Any]:
    """Decode ``items`` into ``target.npy`` (+ ``.json`` with per-image metadata); atomic."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL decodes without the GIL
        results = list(pool.map(_decode_safe, [(it.path, size, channels) for it in items], chunksize=16))
    bad = [(str(it.path), r) for it, r in zip(items, results) if isinstance(r, str)]
    keep = [i for i, r in enumerate(results) if not isinstance(r, str)]
    images = np.stack([results[i][0] for i in keep]) if keep else np.zeros((0, channels, size, size), np.uint8)
    meta = {"version": CACHE_VERSION, "keep": keep, "bad": bad,
            "exact": [results[i][1] for i in keep], "dhash": [results[i][2] for i in keep],
            "modes": [results[i][3] for i in keep], "sizes": [list(results[i][4]) for i in keep]}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, images)
    tmp_meta = target.with_name(f".{target.name}.{os.getpid()}.tmp.json")
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, target.with_suffix(".json"))
    os.replace(tmp, target.with_suffix(".npy"))  # the .npy appears last: its presence marks a complete cache
    return meta


def dhash_words(hexes: list[str]) -> np.ndarray:
    """(N, 4) uint64 words of 256-bit dHashes given as hex strings."""
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), dtype=">u8").astype(np.uint64).reshape(len(hexes), -1)


def duplicate_groups(exact: list[str], dhash: np.ndarray, threshold: int | None) -> np.ndarray:
    """Group ids: connected components of "same exact pixel hash" and "dHash Hamming distance <=
    threshold". ``dhash`` is (N, words) uint64."""
    n = len(exact)
    first: dict[str, int] = {}
    rows = [first.setdefault(h, i) for i, h in enumerate(exact)]
    edges = [np.array(rows), np.arange(n)]
    if threshold is not None and n > 1:
        dh = dhash.astype(np.uint64)
        for s in range(0, n, 256):
            d = np.bitwise_count(dh[s : s + 256, None, :] ^ dh[None, :, :]).sum(-1)
            ii, jj = np.nonzero(d <= threshold)
            edges[0] = np.concatenate([edges[0], ii + s])
            edges[1] = np.concatenate([edges[1], jj])
    return components(n, edges[0], edges[1])


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label of each of ``n`` nodes joined by the edges ``a[k] - b[k]`` (scipy), numbered
    by their smallest member so labels are stable."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1 if n else 0, n)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]


def audit_summary(groups: np.ndarray, labels: np.ndarray, split: np.ndarray | None) -> dict[str, int]:
    """How many duplicate groups there are, how many images they hold, and how many cross labels
    or the official split."""
    ids, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    multi = np.flatnonzero(counts > 1)
    cross_label = cross_split = 0
    for g in multi:
        members = np.flatnonzero(inverse == g)
        cross_label += len(set(labels[members].tolist())) > 1
        if split is not None:
            cross_split += len(set(split[members].tolist())) > 1
    return {"groups": int(len(multi)), "images_in_groups": int(counts[multi].sum()),
            "cross_label": int(cross_label), "cross_official_split": int(cross_split)}


def patient_summary(patients: np.ndarray | None, split: np.ndarray | None) -> dict[str, int] | None:
    """Patients (or source cases) named by the files, those with several images, and those whose
    images the source's own split puts on both sides."""
    if patients is None:
        return None
    uniq, inverse, counts = np.unique(patients, return_inverse=True, return_counts=True)
    crossing = 0
    if split is not None:
        sides = {}
        for g, sp in zip(inverse.tolist(), split.tolist()):
            sides.setdefault(g, set()).add("test" if sp == "test" else "train")
        crossing = sum(len(v) > 1 for v in sides.values())
    return {"patients": int(len(uniq)), "with_several_images": int((counts > 1).sum()),
            "images_of_those": int(counts[counts > 1].sum()), "cross_official_split": int(crossing)}


def load_items(name: str, root: Path, items: list, classes: tuple[str, str], opts: Any, channels: int) -> ImageSet:
    """Decode (or map from the cache) the images of ``items`` and return the ImageSet."""
    params = {"name": name, "size": opts.size, "channels": channels}
    all_ids = relative_ids(root, items)
    fp = fingerprint(root, items, params, all_ids)
    target = cache_dir() / f"{name}-{opts.size}px-{channels}ch-{fp}"
    if target.with_suffix(".npy").is_file() and target.with_suffix(".json").is_file():
        meta = json.loads(target.with_suffix(".json").read_text())
        cached = True
    else:
        meta = build_cache(root, items, opts.size, channels, target)
        cached = False
    if meta["bad"] and not opts.skip_corrupt:
        shown = "; ".join(f"{p} ({why})" for p, why in meta["bad"][:5])
        more = f" and {len(meta['bad']) - 5} more" if len(meta["bad"]) > 5 else ""
        raise DataError(f"{root}: {len(meta['bad'])} unreadable image(s): {shown}{more}. Fix or remove them, "
                        "or set the data set option skip_corrupt: true")
    images = np.load(target.with_suffix(".npy"), mmap_mode="c")  # copy-on-write map: no decode, no full read
    kept = [items[i] for i in meta["keep"]]
    labels = np.array([it.label for it in kept], dtype=np.int64)
    split = np.array([it.split for it in kept]) if any(it.split for it in kept) else None
    threshold = opts.hash_threshold if opts.near_duplicates else None
    stored = target.with_name(f"{target.name}.groups-{threshold}.npy")  # derived once per threshold
    if stored.is_file():
        groups = np.load(stored)
    else:
        groups = duplicate_groups(meta["exact"], dhash_words(meta["dhash"]), threshold)
        tmp = stored.with_name(f".{stored.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, groups)
        os.replace(tmp, stored)
    ids = [all_ids[i] for i in meta["keep"]]
    patients = None
    if any(it.patient for it in kept):  # unnamed images are their own patient
        patients = np.unique([it.patient or f"#{i}" for i, it in enumerate(kept)], return_inverse=True)[1]
    sizes = np.array(meta["sizes"]) if meta["sizes"] else np.zeros((0, 2), int)
    return ImageSet(
        images=torch.from_numpy(images), labels=labels, ids=ids, classes=classes, groups=groups,
        patients=patients, official_split=split,
        meta={"source": name, "root": str(root), "cached": cached, "cache_file": str(target.with_suffix(".npy")),
              "skipped_corrupt": len(meta["bad"]), "skipped_files": [p for p, _ in meta["bad"]][:50],
              "subclasses": {s: int(c) for s, c in zip(*np.unique([it.subclass for it in kept], return_counts=True))},
              "modes": {m: int(c) for m, c in zip(*np.unique(meta["modes"], return_counts=True))} if meta["modes"] else {},
              "size_range": [sizes.min(0).tolist(), sizes.max(0).tolist()] if len(sizes) else None,
              "audit": audit_summary(groups, labels, split),
              "patients": patient_summary(patients, split)},
    )
