"""Records + suite settings -> plain dataclasses: per-variant summaries, the decisive comparison of
each variant with the baseline, power, the A/A check, sequential looks, the paper's claims, ranks
and costs. Pure and deterministic; the views only format what this package computes.

One file per job: :mod:`.model` (the objects), :mod:`.pairing` (summaries, pairing, the decisive
test), :mod:`.story` and :mod:`.localisation` (per data set), :mod:`.aa` (the A/A check),
:mod:`.costs`, :mod:`.sequential` (families and looks), :mod:`.claims_and_checks`,
:mod:`.protocol_check` (the attention effect under two protocols), :mod:`.suite`
(a suite's analysis, and every suite's) and :mod:`.cache` (analyses kept between commands)."""

from .aa import _aa_result, _aa_sequential  # noqa: F401
from .claims_and_checks import _checks, _claims  # noqa: F401
from .costs import CONTENDED_SPREAD, contended  # noqa: F401
from .model import (MAX_AA_SUBSETS, OUTCOMES, SECOND, TESTS, AAResult, ComparisonRow, DatasetAnalysis, Grouped,  # noqa: F401
                    EffectCheck, Localisation, PaperClaim, SuiteAnalysis, SuiteCheck, VariantSummary, group)
from .protocol_check import effect_checks  # noqa: F401
from .pairing import _decisive_from_parts, _is_aa, _one_test, _tests, paired_runs, summarize  # noqa: F401
from .sequential import _sequential_verdicts, _sequential_window, families_of  # noqa: F401
from .suite import analyse, analyse_suite  # noqa: F401
