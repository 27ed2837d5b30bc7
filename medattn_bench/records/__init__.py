"""Run records: one JSON file per (suite, data set, variant, split seed, initialisation), written
atomically, read and validated by this package only.

A record is data: the resolved config and its hash, the per-sample test scores, metrics, cost,
environment and code version (pydantic :class:`RunRecord`, schema 2). Suite-level settings that
are not part of any run (description, statistics) live once in ``<records>/<suite>/suite.json``.
Everything the leaderboard shows is derived from records and that file. A record that fails
validation is reported and skipped, never fatal to a whole report.

:mod:`.schema` (the models), :mod:`.store` (the folder: reading, writing, ``suite.json``),
:mod:`.migrate` (schema 1 to 2), :mod:`.trust` (each record checked against its own contents) and
:mod:`.submission` (a submitted block's bundle, its check, the board's marks).
"""

from ..jsonio import canonical_hash, write_json_atomic, write_text_atomic  # noqa: F401  (re-exported)
from ..names import isa_label  # noqa: F401  (re-exported)
from .migrate import migrate_v1  # noqa: F401
from .schema import (SCHEMA_VERSION, SUITE_FILE, Metrics, RunInfo, RunRecord, SuiteInfo, TestScores,  # noqa: F401
                     TimeInfo, arithmetic_of, machine_label, protocol_part)
from .store import (MAX_RECORD_BYTES, _settings_checked, _validation_line, git_info, inside_folder,  # noqa: F401
                    load_records, load_suite_infos, read_bounded, read_record, record_files, record_path,
                    suite_info_path, write_record, write_suite_info)
