"""Grad-CAM localisation (energy in mask, pointing game, IoU) per variant, and a variant's
localisation against the baseline's on the same splits."""

from __future__ import annotations

import warnings

import numpy as np

from ..records import RunRecord
from ..stats import Verdict, random_effects
from ..settings import StatsSpec
from .model import Localisation
from .pairing import _finite_mean_sd


def _loc_means(r: RunRecord, key: str) -> float:
    vals = [v for v in (r.explain or {}).get(key, []) if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _localisation(variant: str, runs: dict[tuple[int, int], RunRecord]) -> Localisation | None:
    ok = [r for _, r in sorted(runs.items()) if r.ok and r.explain and r.explain.get("n_images")]
    if not ok:
        return None
    return Localisation(variant, len(ok), int(np.mean([r.explain["n_images"] for r in ok])),
                        *(_finite_mean_sd([_loc_means(r, k) for r in ok]) for k in ("energy", "pointing", "iou")),
                        float(np.mean([r.explain.get("seconds", 0.0) for r in ok])), ok[0].explain.get("method", "gradcam"),
                        ok[0].explain.get("layer", "layer4"))


def _loc_verdict(a: dict[tuple[int, int], RunRecord], b: dict[tuple[int, int], RunRecord], st: StatsSpec,
                 key: str = "energy") -> Verdict | None:
    """Per split: the paired per-image difference of ``key`` (inits averaged), its mean and
    variance / n; across splits the same random-effects test as AUC."""
    deltas, variances = [], []
    for seed in sorted({k[0] for k in a} & {k[0] for k in b}):
        per = []
        for side in (a, b):
            rs = [r for k, r in side.items() if k[0] == seed and r.ok and r.explain and r.explain.get("n_images")]
            if not rs:
                break
            ids = rs[0].explain["ids"]
            if any(r.explain["ids"] != ids for r in rs):
                break
            vals = np.array([[np.nan if v is None else v for v in r.explain[key]] for r in rs], dtype=float)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an image whose CAMs are all zero stays NaN
                per.append((ids, np.nanmean(vals, axis=0)))
        if len(per) < 2 or per[0][0] != per[1][0]:
            continue
        diff = per[0][1] - per[1][1]
        diff = diff[np.isfinite(diff)]
        if len(diff) < 2:
            continue
        deltas.append(float(diff.mean()))
        variances.append(float(diff.var(ddof=1) / len(diff)))
    if len(deltas) < 2:
        return None
    return random_effects(deltas, variances, st.ci_level)
