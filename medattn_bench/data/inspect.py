"""What ``medattn-bench data info`` and ``data audit`` print about a data set on disk: counts per
class and source split, image formats and sizes (headers only); exact and near-duplicate groups,
the patients the file names carry, and which of them cross labels or the official split."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..errors import DataError


def resolve_data(target: str, data_root: str | None):
    """ROOT (a folder in a known layout) or NAME (a native data set) -> (name, root, items)."""
    from .real import NATIVE, detect_layout, items_for, resolve_root

    if target in NATIVE:
        folder, detect, *_ = NATIVE[target]
        root = resolve_root(target, folder, None, data_root, detect)
        return target, root, items_for(target, root)
    root = Path(target)
    if not root.is_dir():
        raise DataError(f"{target}: neither a data set name ({', '.join(NATIVE)}) nor a folder")
    name = detect_layout(root)
    if name is None:
        subs = sorted(p.name for p in root.iterdir())[:12]
        raise DataError(f"{root}: no known layout (skin, cxr, mri, ct) found; its entries: {subs}")
    return name, root, items_for(name, root)


def info_lines(target: str, data_root: str | None) -> Iterator[str]:
    from PIL import Image
    from tabulate import tabulate

    name, root, items = resolve_data(target, data_root)
    counts = Counter((it.split or "-", it.subclass, it.label) for it in items)
    rows = [[split, sub, label, n] for (split, sub, label), n in sorted(counts.items())]
    modes, sizes, bad = Counter(), [], 0
    for it in items:
        try:
            with Image.open(it.path) as im:
                modes[f"{im.format}/{im.mode}"] += 1
                sizes.append(im.size)
        except OSError:
            bad += 1
    yield f"{name} at {root}: {len(items)} images"
    yield tabulate(rows, ["source split", "folder / subclass", "label", "images"], tablefmt="simple")
    by_label = Counter(it.label for it in items)
    yield f"per label: {dict(sorted(by_label.items()))}"
    yield f"formats/modes: {dict(modes.most_common())}" + (f"; unreadable headers: {bad}" if bad else "")
    if sizes:
        w, h = zip(*sizes)
        yield f"sizes: width {min(w)}-{max(w)} px, height {min(h)}-{max(h)} px"


def audit_lines(target: str, data_root: str | None, threshold: int, show: int) -> Iterator[str]:
    import numpy as np

    from .cache import load_items
    from .real import NATIVE, RealOptions

    name, root, items = resolve_data(target, data_root)

    def load(**opts):  # the cache stores decoded pixels and groups per threshold: the second load is cheap
        return load_items(name, root, items, NATIVE[name][3], RealOptions(size=64, skip_corrupt=True, **opts), 1)

    ds = load(hash_threshold=threshold)
    exact_groups = load(near_duplicates=False).groups
    groups, split, s = ds.groups, ds.official_split, ds.meta["audit"]
    n_exact = int((np.unique(exact_groups, return_counts=True)[1] > 1).sum())
    yield (f"{name} at {root}: {len(ds)} images; {s['groups']} duplicate groups holding {s['images_in_groups']} "
           f"images ({n_exact} sets of pixel-identical images); {s['cross_label']} groups cross labels, "
           f"{s['cross_official_split']} cross the official split")
    pats = ds.meta.get("patients")
    if pats:
        line = (f"{pats['patients']} patients or source cases named by the files, {pats['with_several_images']} with "
                f"several images ({pats['images_of_those']} images)")
        if split is not None:
            line += f"; {pats['cross_official_split']} of them with images on both sides of the official split"
        yield line
        if split is not None and pats["cross_official_split"]:
            sides: dict[int, set] = {}
            for p, sp in zip(ds.patients.tolist(), split.tolist()):
                sides.setdefault(p, set()).add("test" if sp == "test" else "train")
            example = {p: ds.ids[i] for i, p in reversed(list(enumerate(ds.patients.tolist())))}
            crossing = [example[p] for p, v in sorted(sides.items()) if len(v) > 1]
            yield "  e.g. " + ", ".join(crossing[:show]) + (" ..." if len(crossing) > show else "")
    uniq, counts = np.unique(groups, return_counts=True)
    listed = 0
    for g in uniq[np.argsort(-counts, kind="stable")]:
        members = np.flatnonzero(groups == g)
        if len(members) < 2 or listed >= show:
            continue
        listed += 1
        flags = []
        if len(set(ds.labels[members].tolist())) > 1:
            flags.append("CROSSES LABELS")
        if split is not None and len(set(split[members].tolist())) > 1:
            flags.append("crosses official split")
        kind = "exact" if len(set(exact_groups[members].tolist())) == 1 else "near"
        yield f"- group of {len(members)} ({kind}){': ' + ', '.join(flags) if flags else ''}"
        for i in members[:6]:
            yield f"    {ds.ids[i]}  [{ds.classes[ds.labels[i]]}{', ' + split[i] if split is not None else ''}]"
