"""Per-suite sections: the A/A check, the paper's claims, and a suite checked against another."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from ..analysis import TESTS, SuiteAnalysis
from .findings import _claim_counts, _said
from .format import _fmt_p, _pct, _pts


def _aa_section(a: SuiteAnalysis) -> list[str]:
    if not a.aa:
        return []
    st = a.settings
    rows = [[r.dataset, r.variant, r.n_splits, f"{r.n_blocks} × {r.block} splits",
             f"{r.decisive_hits}/{r.n_blocks} = {r.decisive_hits / r.n_blocks:.2f} [{r.decisive_ci[0]:.2f}, "
             f"{r.decisive_ci[1]:.2f}]",
             f"{r.case_hits}/{r.n_blocks} = {r.case_hits / r.n_blocks:.2f} [{r.case_ci[0]:.2f}, {r.case_ci[1]:.2f}]",
             f"{r.decisive_all:.3f} / {r.case_delong_all:.3f} over "
             + (f"{r.n_subsets:,}" if r.n_subsets == r.n_subsets_all else f"{r.n_subsets:,} of {r.n_subsets_all:,} (seeded sample)"),
             f"{100 * r.tau_init:.1f}"] for r in a.aa if r.n_blocks]
    return ["### A/A check: the baseline against itself", "",
            f"Rows that train exactly the baseline's recipe with other initialisations. The splits are cut into "
            f"disjoint blocks of {st.aa_block}, each block one simulated suite; every rejection at α = {st.alpha} is a "
            "false positive. Binomial 95 % CIs (Clopper-Pearson). The case-only bootstrap's p takes its replicates' "
            "variance in closed form (the limit of infinitely many resamples).", "",
            tabulate(rows, ["Data set", "Copy", "Splits", "Tests", f"False-positive rate, decisive ({TESTS[st.test]})",
                            "False-positive rate, case-only bootstrap",
                            f"Rate over every {st.aa_block} of the splits (overlapping, descriptive): decisive / case-only DeLong",
                            "sd of per-split ΔAUC (points)"],
                     tablefmt="github", disable_numparse=True), ""] + _aa_sequential_lines(a)


def _aa_sequential_lines(a: SuiteAnalysis) -> list[str]:
    seq = [r for r in a.aa if r.looks and r.seq_blocks]
    if not seq:
        return []
    st = a.settings
    looks = ", ".join(map(str, seq[0].looks))
    rows = [[r.dataset, r.variant, f"{r.seq_blocks} × {r.looks[-1]} splits",
             f"{r.seq_hits}/{r.seq_blocks} = {r.seq_hits / r.seq_blocks:.2f} [{r.seq_ci[0]:.2f}, {r.seq_ci[1]:.2f}]",
             f"{r.seq_equivalent}/{r.seq_blocks}", f"{r.seq_mean_splits:.1f}"] for r in seq]
    return [f"**Over all looks of a sequential suite** (looks at {looks} splits): the splits cut into disjoint "
            f"blocks of {seq[0].looks[-1]}, each judged as a sequential suite judges a data set with one comparison: "
            f"at each look the decisive test against the look's level (α = {st.alpha} spent by O'Brien-Fleming), "
            f"a stop when equivalence within ±{st.margin:g} points is shown, else the next look. A rejection at any "
            "look is a false positive.", "",
            tabulate(rows, ["Data set", "Copy", "Blocks", "False-positive rate over all looks (95 % CI)",
                            f"Stopped as equivalent (±{st.margin:g})", "Mean splits used"],
                     tablefmt="github", disable_numparse=True), ""]


CLAIMS_RULE = ("The claims are a family of their own: each label compares the paper's Δ with our interval at "
               "1 − α/m for the m claims tested (in a sequential suite the repeated interval of the comparison's "
               "look), printed in the label, so that with every published value true the chance that any claim "
               "reads *not reproduced* or *contradicted* is at most α; the label table is in docs/statistics.md.")
CORRECTIONS = {"holm": "Holm", "bonferroni": "Bonferroni", "bh": "Benjamini-Hochberg", "none": "no"}


def _claims_section(a: SuiteAnalysis) -> list[str]:
    if not a.claims:
        return []
    level = int(round(100 * a.settings.ci_level))
    rows = []
    for c in a.claims:
        v = c.verdict
        ours = (f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}], p {_fmt_p(c.p_adj)}" + (" *" if c.significant else "")
                if v else "–")
        rows.append([c.dataset, c.variant, f"{c.reported:.2f} vs {c.reported_base:.2f} ({c.reported_delta:+.2f})",
                     f"{_pct(c.ours, 2)} vs {_pct(c.ours_base, 2)}", ours, c.status])
    summary = _claim_counts(a.claims)
    return ["### The paper's claims: reported beside reproduced", "",
            f"Each published result is a variant's mean AUC against the baseline's (3 runs, no interval). Here it "
            f"meets this suite's decisive test: ΔAUC over splits with its {level} % CI (unadjusted) and "
            f"p with {CORRECTIONS[a.settings.correction]} correction. {CLAIMS_RULE} The protocols differ where the "
            "suite's description says so, so a label is a statement about this protocol, not proof of an error.", "",
            tabulate(rows, ["Data set", "Variant", f"Paper: AUC % vs {a.baseline} (Δ points)",
                            f"Ours: mean AUC % vs {a.baseline}", f"Ours: ΔAUC points [{level}% CI], p", "Paper's claim"],
                     tablefmt="github", disable_numparse=True), "",
            f"Of {len(a.claims)} claims: {summary}.", ""]


def _checks_section(a: SuiteAnalysis) -> list[str]:
    if not a.checks:
        return []
    level = int(round(100 * a.settings.ci_level))
    other = a.checks[0].other
    def per_seed(aucs: dict[int, float]) -> str:
        return ", ".join(f"{s}: {_pct(x)}" for s, x in sorted(aucs.items()))

    def mean_sd(aucs: dict[int, float]) -> str:
        x = list(aucs.values())
        return f"{_pct(float(np.mean(x)))} ± {_pct(float(np.std(x, ddof=1)) if len(x) > 1 else float('nan'))}"

    rows = []
    for c in a.checks:
        v = c.verdict
        rows.append([c.dataset, c.variant, per_seed(c.here), mean_sd(c.here), per_seed(c.there), mean_sd(c.there),
                     "yes" if c.there_mean_in_range else "no", "yes" if c.here_mean_in_range else "no",
                     f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}], p {_fmt_p(v.p)}" if v else "–",
                     _seeds(c.other_machine)])
    return [f"### Against suite `{other}` on the same splits", "",
            f"This suite's rows beside `{other}`'s same rows; split seeds give identical test sets (checked case by "
            f"case). ΔAUC is this suite minus `{other}`, by the decisive test over the shared splits ({level} % CI).", "",
            tabulate(rows, ["Data set", "Variant", "AUC % here, per split seed", "Here mean ± sd",
                            f"AUC % in {other}, per split seed", f"{other} mean ± sd",
                            f"{other}'s mean within the range here", f"Mean here within {other}'s range",
                            f"ΔAUC points [{level}% CI], p", "Split seeds on other machines"],
                     tablefmt="github", disable_numparse=True), ""
            ] + _machines_note([c.other_machine for c in a.checks], other,
                               "on those splits a row's difference mixes the protocol with the machine (fp32 on "
                               "other instruction sets trains other models)") + _effects_table(a)


def _seeds(other_machine: dict[int, tuple[str, str]]) -> str:
    return ", ".join(str(s) for s in sorted(other_machine)) or "–"


def _machines_note(per_row: list[dict[int, tuple[str, str]]], other: str, consequence: str) -> list[str]:
    """One sentence per pair of machines that a check's split seeds were trained on, here and there."""
    pairs: dict[tuple[str, str], set[int]] = {}
    for m in per_row:
        for seed, pair in m.items():
            pairs.setdefault(pair, set()).add(seed)
    return [" ".join(f"Split seeds {', '.join(map(str, sorted(seeds)))}: trained here on {here} and in `{other}` on "
                     f"{there}; {consequence}." for (here, there), seeds in sorted(pairs.items())), ""] if pairs else []


def _effects_table(a: SuiteAnalysis) -> list[str]:
    """Each variant's attention effect under this suite's protocol beside the other suite's, and
    the difference of the two (analysis/protocol_check.py)."""
    if not a.effects:
        return []
    level = int(round(100 * a.settings.ci_level))
    other = a.effects[0].other

    def ci(v) -> str:
        return f"{_pts(v.delta)} [{_pts(v.ci_lo)}, {_pts(v.ci_hi)}]"

    rows = [[e.dataset, e.variant, len(e.seeds), ci(e.here), ci(e.there), ci(e.diff),
             _fmt_p(e.p_adj), _fmt_p(e.p_equiv_adj), _said(e), e.verdict_here or "–", e.verdict_there or "–",
             _seeds(e.other_machine)] for e in a.effects]
    return [f"#### The attention effect here and in `{other}`", "",
            f"Each variant's ΔAUC over `{a.baseline}` under this suite's protocol and under `{other}`'s, on the "
            f"splits where all four runs exist (same test images), and the difference of the two: split by split, one "
            f"DeLong contrast of the four models; across splits, the decisive test ({TESTS[a.settings.test]}, "
            f"{level} % CI). The difference is tested against 0 and for equivalence within ±{a.settings.margin:g} "
            f"point(s), each p adjusted ({a.settings.correction}) across the rows below; \"differs\" and \"same\" need "
            f"the adjusted p below α = {a.settings.alpha:g}. Beside it, each suite's own verdict on the variant "
            f"against `{a.baseline}`, on all of that suite's splits (a sequential suite's at its look).", "",
            tabulate(rows, ["Data set", "Variant", "Splits", f"ΔAUC here [{level}% CI]", f"ΔAUC in {other} [{level}% CI]",
                            f"Difference here − {other}", "p (differs), adj.", "p (same), adj.",
                            "Verdict on the difference", "Verdict here", f"Verdict in {other}",
                            "Split seeds on other machines"],
                     tablefmt="github", disable_numparse=True), ""
            ] + _machines_note([e.other_machine for e in a.effects], other,
                               "on those splits each ΔAUC is still within one protocol's runs, which share a machine, "
                               "so the difference sets two within-machine effects side by side")
