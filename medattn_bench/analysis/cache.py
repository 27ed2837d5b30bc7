"""A suite's analysis kept on disk, keyed by everything it is computed from.

``analysis.analyse_suite`` is a pure function of the suite's vetted records, its ``suite.json``
settings, this package's code and the numerical libraries' versions; on the reference board it
takes most of a render or an export (the case bootstrap, the A/A blocks, the power curves). The
key below hashes all of those (each record by the sha256 of its text, so an edited record is a
new key), and the value is the suite's analysis before rounding, pickled. Renders and exports of
the same records therefore compute each suite once, and a board that gained records recomputes
only the suites that changed.

The cache lives in the user's own cache folder (``MEDATTN_CACHE``, by default
``~/.cache/medattn_bench``), never in a records folder: records are shared, the cache is not.
Reading it is restricted all the same (:class:`_AnalysisUnpickler`: the package's own classes and
numpy's scalars, nothing callable else), and an entry that cannot be read is recomputed and
replaced, never trusted. ``MEDATTN_ANALYSIS_CACHE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path
from typing import Any

import medattn_bench

_PKG = Path(medattn_bench.__file__).resolve().parent
_KEEP = 64  # entries kept; the oldest beyond are removed after a write
_NUMPY_GLOBALS = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.multiarray", "scalar"),
                  ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
                  ("numpy.core.multiarray", "_reconstruct"), ("numpy.dtypes", "Float64DType"),
                  ("numpy.dtypes", "Float32DType"), ("numpy.dtypes", "Int64DType"), ("numpy.dtypes", "BoolDType")}
_BUILTIN_GLOBALS = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "slice"),
                    ("builtins", "range"), ("copyreg", "_reconstructor"), ("builtins", "object"),
                    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "Counter")}


def cache_dir() -> Path | None:
    """Where analyses are kept, or None when the cache is off."""
    if os.environ.get("MEDATTN_ANALYSIS_CACHE", "").lower() in ("0", "off", "no", "false"):
        return None
    return Path(os.environ.get("MEDATTN_CACHE") or Path.home() / ".cache" / "medattn_bench") / "analysis"


_code = None


def code_digest() -> str:
    """sha256 over this package's Python sources and the numerical libraries' versions: any change
    to the code that computes an analysis makes every key new."""
    global _code
    if _code is None:
        import numpy
        import scipy

        h = hashlib.sha256(f"numpy {numpy.__version__} scipy {scipy.__version__}\n".encode())
        for p in sorted(_PKG.rglob("*.py")):
            h.update(p.relative_to(_PKG).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
        _code = h.hexdigest()
    return _code


def suite_key(name: str, records: list, info: Any, allow_mixed: bool) -> str | None:
    """The key of one suite's analysis, or None when a record has no digest (not read from a file)."""
    digests = []
    for r in records:
        if not r.digest:
            return None
        digests.append(f"{r.path}\0{r.digest}")
    h = hashlib.sha256(f"{code_digest()}\0{name}\0{allow_mixed}\0".encode())
    h.update((info.model_dump_json() if info is not None else "-").encode() + b"\0")
    for d in sorted(digests):
        h.update(d.encode() + b"\n")
    return h.hexdigest()


class _AnalysisUnpickler(pickle.Unpickler):
    """Only the classes an analysis is made of: this package's own types, numpy's scalars and
    arrays, and a few builtin containers. Anything else (a function, a module-level callable of
    another package) is refused, so a planted entry cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("medattn_bench.") or module == "medattn_bench":
            obj = super().find_class(module, name)
            if isinstance(obj, type):
                return obj
        elif (module, name) in _NUMPY_GLOBALS or (module, name) in _BUILTIN_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of an analysis")


def _read(path: Path) -> Any:
    with open(path, "rb") as fh:
        return _AnalysisUnpickler(io.BytesIO(fh.read())).load()


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    entries = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[_KEEP:]:
        old.unlink(missing_ok=True)


def lookup(key: str | None, expect: type) -> Any | None:
    """The value kept under ``key`` when there is one of type ``expect``, else None. The cache is
    an optimisation only: any failure to read it counts as a miss (and the entry is replaced)."""
    where = cache_dir()
    if key is None or where is None:
        return None
    path = where / f"{key}.pickle"
    try:
        value = _read(path)
        if isinstance(value, expect):
            os.utime(path)  # recently used: kept longest
            return value
    except Exception:  # noqa: BLE001 - missing, damaged or planted: recomputed and replaced
        pass
    return None


def store(key: str | None, value: Any) -> None:
    """Keep ``value`` under ``key`` (nothing when the cache is off or cannot be written)."""
    where = cache_dir()
    if key is None or where is None:
        return
    try:
        _write(where / f"{key}.pickle", value)
    except OSError:
        pass

