"""α spent over sequential looks (O'Brien-Fleming-type or linear) and the nominal levels of the
t test at each look."""

from __future__ import annotations

import functools

import numpy as np
from scipy import stats as sps


def obf_spent(alpha: float, t: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: the two-sided α spent by information fraction t."""
    return float(2 * (1 - sps.norm.cdf(sps.norm.ppf(1 - alpha / 2) / np.sqrt(t)))) if t > 0 else 0.0


def linear_spent(alpha: float, t: float) -> float:
    """Power-family spending with ρ = 1 (Kim & DeMets 1987): α·t spent by information fraction t,
    a Pocock-like share early on (a quarter of α at the first of four equal looks)."""
    return float(alpha * min(max(t, 0.0), 1.0))


SPENDING = {"obf": obf_spent, "linear": linear_spent}


@functools.lru_cache(maxsize=256)
def sequential_levels(alpha: float, looks: tuple[int, ...], paths: int = 200_000,
                      spending: str = "obf") -> tuple[float, ...]:
    """Nominal two-sided levels for the t test over splits at each look (``looks``: the splits
    recorded at each, the last the maximum), whose overall two-sided error is ``alpha`` under
    the ``spending`` function (:data:`SPENDING`: Lan-DeMets O'Brien-Fleming by default, or linear)
    at information fractions S_k / S_max: look k rejects when
    its p < level k. The t statistics of normal per-split deltas are pivotal, so their joint null
    distribution over the looks is simulated once on ``paths`` seeded paths (deterministic
    levels; z boundaries applied to t tests on 4-19 df overshot α by 6 %); each look spends
    α*(t_k) − α*(t_{k−1}) of all paths among those not yet stopped."""
    n = max(looks)
    looks_t = _null_t(looks, paths)
    alive = np.ones(paths, dtype=bool)
    levels, spent = [], 0.0
    for s_k, t in zip(looks, looks_t):
        target = SPENDING[spending](alpha, s_k / n) - spent
        k = int(round(target * paths))
        level, stop = _kth_smallest_p(t, alive, k, s_k - 1)
        spent += stop.sum() / paths
        alive &= ~stop
        levels.append(level)
    return tuple(levels)


@functools.lru_cache(maxsize=4)
def _null_t(looks: tuple[int, ...], paths: int) -> np.ndarray:
    """|t| of the one-sample t test at each look (rows) on each of ``paths`` seeded null paths of
    standard normal per-split deltas: the same for every α and spending function, so a board's
    levels (one α share per open comparison) share one simulation."""
    rng = np.random.default_rng(20261128)
    n = max(looks)
    # one row per split, one column per path: the running sums are n - 1 additions of whole rows,
    # the same additions in the same order as a cumsum along each path (which is slow along rows
    # this short)
    x = rng.standard_normal((paths, n)).astype(np.float32).T.astype(np.float64)
    csum, csq = x.copy(), x**2
    for k in range(1, n):
        csum[k] += csum[k - 1]
        csq[k] += csq[k - 1]
    out = np.empty((len(looks), paths))
    for row, s_k in enumerate(looks):
        mean = csum[s_k - 1] / s_k
        var = (csq[s_k - 1] - s_k * mean**2) / (s_k - 1)
        out[row] = np.abs(mean) / np.sqrt(var / s_k)
    out.flags.writeable = False
    return out


def _kth_smallest_p(t: np.ndarray, alive: np.ndarray, k: int, df: int) -> tuple[float, np.ndarray]:
    """The k-th smallest two-sided p = 2·sf(|t|) among the ``alive`` paths, and which alive paths
    have a p at most that. The p falls with |t|, so only the paths whose |t| is within a relative
    1e-9 of the k-th largest can be among the k smallest (the same floats as taking every p,
    at a fraction of the distribution calls)."""
    stop = np.zeros(len(t), dtype=bool)
    n_alive = int(alive.sum())
    if k <= 0:
        return 0.0, stop
    if k > n_alive:  # more to spend than paths left: only a p of exactly 0 stops
        p = 2 * sps.t.sf(t[alive], df)
        stop[np.flatnonzero(alive)[p <= 0.0]] = True
        return 0.0, stop
    live = t[alive]
    tk = np.partition(live, n_alive - k)[n_alive - k]
    cand = np.flatnonzero(alive & (t >= tk * (1 - 1e-9)))
    p = 2 * sps.t.sf(t[cand], df)
    level = float(np.sort(p)[k - 1])
    stop[cand[p <= level]] = True
    return level, stop
