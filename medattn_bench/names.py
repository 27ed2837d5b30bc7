"""The built-in names, without importing torch: planning a suite (``run --dry-run``) checks names
against these and the installed entry points, and imports no model code. A test keeps these
lists equal to the registries."""

from __future__ import annotations

import difflib

BUILTIN_ATTENTION = ("bam", "cbam", "coord", "criss_cross", "eca", "ese", "gather_excite", "gc", "none", "nonlocal",
                     "se", "simam", "srm", "triplet")
BUILTIN_DATASETS = ("csv", "ct", "cxr", "imagefolder", "medmnist", "mri", "phantom_ct", "phantom_cxr", "phantom_mri",
                    "phantom_skin", "skin")


def unknown(kind: str, name: str, names: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(names))}"


def entry_point_names() -> tuple[str, ...]:
    """Names of the installed ``medattn_bench.attention`` entry points (read from metadata; nothing
    is imported). By convention an entry point is named after the block it provides."""
    from importlib import metadata

    return tuple(ep.name for ep in metadata.entry_points(group="medattn_bench.attention"))
