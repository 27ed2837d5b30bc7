"""How a published ΔAUC fares against this benchmark: one label table, implemented once.

The paper reports a point ΔAUC per claim (mean of 3 runs, no interval). Each claim is judged
against one interval of ours, the **claims interval**: the decisive test's t interval over splits
at the claims family's level, 1 - α/m for the m claims tested (Bonferroni), and in a sequential
suite the repeated confidence interval at the look whose verdict the comparison carries (the
nominal level that spending α/m over the suite's looks gives that look). With every published
value exactly true, all m intervals cover them together with probability at least 1 - α, so the
chance that *any* claim on the board reads "not reproduced" or "contradicted" is at most α
(``benchmarks/sim_claims.py``). The label is a function of the reported Δ, that interval and the
equivalence margin alone; it is printed with the interval it used.

For a reported Δ ≠ 0, in the reported direction (lo, hi flipped when the paper's Δ is negative;
R = |reported|, m the margin):

=========================================================  ==============
the claims interval [lo, hi]                               label
=========================================================  ==============
hi < 0 (the opposite direction shown)                      contradicted
R > m and hi < m (a gain as large as the margin ruled out)  contradicted
otherwise hi < R (ours smaller than reported)               not reproduced
hi ≥ R and lo ≤ 0 (direction not shown)                    unresolved
hi ≥ R and lo > 0 (direction shown, ours as large or more)  reproduced
=========================================================  ==============

A reported Δ of exactly 0 claims no difference: the interval inside ±m → reproduced; wholly
beyond ±m → contradicted; excluding 0 otherwise → not reproduced; holding 0 → unresolved.

Labels rank reproduced > unresolved > not reproduced > contradicted. For a reported Δ ≠ 0 the
label never gets kinder as our interval moves against the claim's direction (every row is a
threshold on hi or lo, and the rows are in order), and a narrower interval around the same
estimate never turns evidence against the claim into a kinder label (docs/statistics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

RANK = {"reproduced": 3, "unresolved": 2, "not reproduced": 1, "contradicted": 0}
ORDER = sorted(RANK, key=RANK.get, reverse=True)


@dataclass(frozen=True)
class ClaimLabel:
    label: str  # one of RANK
    reason: str  # the parenthesis: what decided it, with the interval
    lo: float  # the claims interval, AUC points
    hi: float
    level: float  # its coverage, e.g. 0.9958

    @property
    def text(self) -> str:
        return f"{self.label} ({self.reason})"


def label_level(alpha: float, m: int) -> float:
    """Coverage of the claims family's Bonferroni interval in a fixed suite: 1 - α/m."""
    return 1 - alpha / max(1, m)


def sequential_label_level(alpha: float, m: int, looks: tuple[int, ...], spending: str, look: int) -> float:
    """Coverage of the repeated confidence interval at look index ``look`` when α/m is spent over
    ``looks`` (the t test's nominal two-sided level there, :func:`stats.sequential_levels`)."""
    from .stats import sequential_levels

    return 1 - sequential_levels(alpha / max(1, m), tuple(looks), spending=spending)[look]


def label_interval(delta: float, se: float, df: int, level: float) -> tuple[float, float]:
    """The decisive test's t interval at ``level`` (inputs and outputs in the same unit)."""
    from scipy import stats as sps

    t = float(sps.t.ppf(0.5 + level / 2, max(1, df)))
    return delta - t * se, delta + t * se


def _pct(level: float) -> str:
    return f"{100 * level:.4g} %"


def claim_label(reported: float, lo: float, hi: float, level: float, margin: float) -> ClaimLabel:
    """The label of a published ΔAUC ``reported`` (points) against our claims interval ``lo``..``hi``
    (points, coverage ``level``) and the equivalence ``margin`` (points), by the module's table."""
    where = f"our {_pct(level)} interval [{lo:+.2f}, {hi:+.2f}]"

    def out(label: str, reason: str) -> ClaimLabel:
        return ClaimLabel(label, f"{reason}: {where}", lo, hi, level)

    if reported == 0:
        if -margin < lo and hi < margin:
            return out("reproduced", f"no difference claimed; ours within ±{margin:g}")
        if lo > margin or hi < -margin:
            return out("contradicted", f"no difference claimed; ours beyond ±{margin:g}")
        if lo > 0 or hi < 0:
            return out("not reproduced", "no difference claimed; 0 excluded")
        return out("unresolved", "no difference claimed; 0 inside, equivalence not shown")
    s = 1.0 if reported > 0 else -1.0
    r, a, b = abs(reported), min(s * lo, s * hi), max(s * lo, s * hi)  # in the reported direction
    if b < 0:
        return out("contradicted", "the opposite direction shown")
    if r > margin and b < margin:
        return out("contradicted", f"a difference of {margin:g} AUC point{'' if margin == 1 else 's'} or more in the "
                                   "reported direction ruled out")
    if b < r:
        return out("not reproduced", "ours smaller than reported" + ("; direction shown" if a > 0 else ""))
    if a <= 0:
        return out("unresolved", "reported Δ inside; direction not shown")
    return out("reproduced", "direction shown; reported Δ inside" if r >= a else "direction shown; ours larger")


def counts_line(labels: list[str]) -> str:
    """``2 reproduced, 5 unresolved, ...`` in the table's order, leaving out zeros."""
    from collections import Counter

    c = Counter(labels)
    return ", ".join(f"{c[k]} {k}" for k in ORDER + ["in progress", "not tested"] if c.get(k))
