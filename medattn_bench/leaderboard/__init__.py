"""Analysis -> markdown. ``render`` is a pure function of the records and the suites' settings (the
bootstrap seed is a stored setting), so CI can check the committed board. Nothing here computes
a statistic: :mod:`medattn_bench.analysis` does.

One file per part: :mod:`.format`, :mod:`.tables`, :mod:`.lines`, :mod:`.findings`, :mod:`.costs`,
:mod:`.sections`, :mod:`.prose`, :mod:`.board`."""

from .format import MAX_SEED_COLUMNS, _fmt_p, _pct, _pts, _seed_label  # noqa: F401
from .tables import (_auc_table, _auc_table_compact, _localisation_table, _margin, _verdict_table,  # noqa: F401
                     _verdict_text)
from .lines import (sequential_line, submission_line, _looks, _machines_line, _needs, _power_line,  # noqa: F401
                    _story_line)
from .findings import (FindingRow, findings_headers, findings_rows, findings_sentences, leads,  # noqa: F401
                       protocol_line, _claim_counts, _findings)
from .costs import _cost_table, _ratio  # noqa: F401
from .sections import (CLAIMS_RULE, CORRECTIONS, _aa_section, _aa_sequential_lines, _checks_section,  # noqa: F401
                       _claims_section)
from .prose import (POPULATION_FPR, provenance_lines, _family_prose, _overlap_prose, _population_rate,  # noqa: F401
                    _statistics_prose, _summary)
from .board import board_order, CHECKS_INTRO, HEADER, is_check, render, render_analyses, render_suite  # noqa: F401
