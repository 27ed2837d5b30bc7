"""Numbers as the board prints them: percentages, AUC points, p-values, split labels."""

from __future__ import annotations

import numpy as np


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}"


def _pts(x: float, digits: int = 1) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:+.{digits}f}"


def _fmt_p(p: float, digits: int = 3) -> str:
    if not np.isfinite(p):
        return "–"
    floor = 10.0**-digits
    return f"<{floor:.{digits}f}" if p < floor else f"{p:.{digits}f}"


def _seed_label(key: tuple[int, int], inits: bool) -> str:
    return f"Seed {key[0]}" + (f"/{key[1]}" if inits else "")


MAX_SEED_COLUMNS = 6
