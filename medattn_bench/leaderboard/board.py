"""A suite's section in order, the board's order of suites, and the whole board (``render``)."""

from __future__ import annotations

from ..analysis import SuiteAnalysis, analyse
from ..records import RunRecord, SuiteInfo
from .costs import _cost_table
from .findings import _findings, leads
from .lines import _machines_line, _power_line, _story_line, sequential_line, submission_line
from .prose import _summary, provenance_lines
from .sections import _aa_section, _checks_section, _claims_section
from .tables import _auc_table, _localisation_table, _verdict_table


def render_suite(a: SuiteAnalysis, figures: dict[str, str] | None = None) -> list[str]:
    lines = [f"## Suite `{a.name}`", ""]
    if a.info.description:
        lines += [a.info.description.strip(), ""]
    lines += provenance_lines(a)
    if figures and figures.get(a.name):
        lines.append(f"- Forest plot: [{figures[a.name]}]({figures[a.name]})")
    lines.append("")
    lines += _claims_section(a)
    lines += _checks_section(a)
    lines += ["### Cost", ""] + _cost_table(a)
    for name, d in sorted(a.datasets.items()):
        lines += [f"### {name}", ""]
        story = _story_line(d)
        if story:
            lines += [story, ""]
        lines += [_machines_line(d), ""]
        lines += [_auc_table(d, a), ""]
        if d.comparisons:
            lines += [_verdict_table(d, a), "", _power_line(d, a), ""]
            sub = submission_line(d, a)
            if sub:
                lines += [sub, ""]
        if d.sequential:
            lines += [sequential_line(d, a), ""]
        cam = (figures or {}).get(f"{a.name}/{name}")
        lines += _localisation_table(d, a, cam)
        if cam and not d.localisation:  # real data: no masks to score, the heat maps still shown
            lines += [f"Grad-CAM figure of split seed 0 (its title says where the weights came from): [{cam}]({cam})", ""]
    lines += _aa_section(a)
    if len(a.order) >= 2:  # an A/A suite has only its baseline left to rank
        lines += ["### Across data sets", "", _summary(a), ""]
    return lines


CHECKS_INTRO = ("Suites that test the tests rather than the blocks: an A/A suite trains the baseline against itself "
                "with other initialisations, so every rejection is a false positive and its rate is measured; a "
                "sequential demo shows the looks at work on phantoms. docs/statistics.md says what each found.")


def is_check(a: SuiteAnalysis) -> bool:
    """A suite that checks the statistics: only A/A rows, or a sequential suite without the study's claims."""
    aa_only = bool(a.aa) and not any(d.comparisons for d in a.datasets.values())
    return aa_only or (bool(a.info.splits) and not a.info.paper_reference)


def board_order(analyses: list[SuiteAnalysis]) -> tuple[list[SuiteAnalysis], list[SuiteAnalysis]]:
    """A researcher's order, for every renderer: the suites with the study's claims (the reference
    board), then the suites checked against them (``check_against``), then the others by name (the
    demo among them); and apart, the checks of the statistics (:func:`is_check`)."""
    claims = {a.name for a in analyses if leads(a)}

    def rank(a: SuiteAnalysis) -> tuple:
        return (0 if a.name in claims else 1 if a.info.check_against in claims else 2, a.name)

    main = sorted((a for a in analyses if not is_check(a)), key=rank)
    return main, sorted((a for a in analyses if is_check(a)), key=lambda a: a.name)


HEADER = ("Rendered by `medattn-bench leaderboard` from the run records under `leaderboard/records/` and each "
          "suite's `suite.json`; do not edit by hand. AUC cells: AUC-ROC in %. ΔAUC in AUC points. GMACs: "
          "multiply-accumulates counted by fvcore with element-wise handlers. `≠` marks a row whose protocol "
          "differs from its baseline's.")


def render_analyses(analyses: list[SuiteAnalysis], problems: list[str] | tuple[str, ...] = (),
                    figures: dict[str, str] | None = None) -> str:
    lines = ["# medattn-bench leaderboard", "", HEADER, ""]
    if not analyses:
        lines.append("No records yet: run `medattn-bench run suites/demo.yaml`.")
    lines += _findings(analyses, figures)
    main, checks = board_order(analyses)
    for a in main:
        lines += render_suite(a, figures)
    if checks:
        lines += ["## Checks of the statistics", "", CHECKS_INTRO, ""]
        for a in checks:
            lines += render_suite(a, figures)
    if problems:
        lines += ["## Records not used", "",
                  "Files under the records folder that no table above uses: unreadable, inconsistent with their own "
                  "labels and scores, misfiled, or claiming a run another file claims too.", ""]
        lines += [f"- {p}" for p in problems] + [""]
    return "\n".join(lines).rstrip() + "\n"


def render(records: list[RunRecord], infos: dict[str, SuiteInfo] | None = None,
           problems: list[str] | tuple[str, ...] = (), allow_mixed: bool = False,
           figures: dict[str, str] | None = None, marks: dict | None = None) -> str:
    """The leaderboard markdown for ``records`` (pure; deterministic)."""
    return render_analyses(analyse(records, infos or {}, allow_mixed, marks), problems, figures)
