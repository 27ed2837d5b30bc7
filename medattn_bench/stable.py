"""Numbers that read the same on every CPU. numpy's reductions sum in an order that depends on the
instruction set (AVX2 and AVX-512 builds of the same mean differ in the last bit), so a statistic
computed from identical records can differ by an ulp between machines. Everything the renderers
print (text, HTML sort keys, exports, figure labels) is therefore taken from values rounded to
``DIGITS`` significant digits first, far beyond anything printed but far above the ulp noise: two
renders of one set of records agree byte for byte unless a value's machine noise straddles the
10th significant digit. Values within ``TINY`` of zero become +0.0: a difference that is zero on
one machine can be ±1e-17 on another, and its sign would show ("-0.0")."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

DIGITS = 10
TINY = 1e-12  # below anything the board prints (AUC points, p-values, images per second)


def stable_float(x: float) -> float:
    """``x`` rounded to :data:`DIGITS` significant digits, 0.0 within :data:`TINY` of zero
    (non-finite values unchanged)."""
    x = float(x)
    if not math.isfinite(x):
        return x
    return 0.0 if abs(x) < TINY else float(f"{x:.{DIGITS}g}")


def stabilise(obj: Any) -> Any:
    """Round every float held by ``obj`` (dataclasses, dicts, lists, tuples, nested) in place where
    it can be and return the result; pydantic models (the records themselves, read from files and
    so already identical everywhere) and numpy arrays are left as they are."""
    return map_floats(obj, stable_float)


def map_floats(obj: Any, fn: Callable[[float], float], _seen: set[int] | None = None) -> Any:
    """``fn`` applied to every float of ``obj``, as :func:`stabilise` does (tests use it to put a
    board's statistics on rounding edges)."""
    import numpy as np

    seen = _seen if _seen is not None else set()
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    if isinstance(obj, (float, np.floating)):
        return fn(float(obj))
    if id(obj) in seen:
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        seen.add(id(obj))
        for f in dataclasses.fields(obj):
            object.__setattr__(obj, f.name, map_floats(getattr(obj, f.name), fn, seen))
        return obj
    if isinstance(obj, dict):
        seen.add(id(obj))
        for k in list(obj):
            obj[k] = map_floats(obj[k], fn, seen)
        return obj
    if isinstance(obj, list):
        seen.add(id(obj))
        obj[:] = [map_floats(v, fn, seen) for v in obj]
        return obj
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(map_floats(v, fn, seen) for v in obj)
    if isinstance(obj, tuple):  # a named tuple
        return type(obj)(*(map_floats(v, fn, seen) for v in obj))
    return obj
