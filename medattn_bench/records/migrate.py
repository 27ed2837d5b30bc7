"""Schema-1 records rewritten as schema 2 (typed records; suite settings moved to ``suite.json``)."""

from __future__ import annotations

import json
from typing import Any

from ..jsonio import canonical_hash
from .schema import Metrics, RunInfo, RunRecord, TestScores, TimeInfo, protocol_part


def migrate_v1(raw: dict[str, Any], patient_named: frozenset[str]) -> tuple[RunRecord, dict[str, Any]]:
    """A schema-1 record as a schema-2 record, and the suite settings it carried. Metrics are kept
    as they were, plus calibration computed from the record's own test scores.

    The config gains the keys schema 2 hashes, set to what the run actually did: one
    initialisation, no init offset, 5 (unused) folds, and patient grouping only where the data set
    has no patient names (so the split is the one patient grouping gives); ``patient_named`` lists
    the data sets whose names carry patients (their v1 runs did not group them)."""

    config = json.loads(json.dumps(raw["config"]))
    config["attention"].setdefault("init_offset", 0)
    config["split"].setdefault("folds", 5)
    config["split"].setdefault("patient_groups", config["dataset"]["name"] not in patient_named)
    config.setdefault("init_seed", 0)
    metrics = None
    if raw.get("status") == "ok":
        from ..metrics import calibration

        m = raw["metrics"]
        # Calibration is new in schema 2; it derives from the stored test scores alone.
        metrics = Metrics(auc=m["auc"], auc_ci_delong=m["auc_ci_delong"], n_test=m["n_test"], n_pos=m["n_pos"],
                          **calibration(raw["test"]["labels"], raw["test"]["scores"]))
    run = raw["run"]
    rec = RunRecord(
        suite=raw["suite"]["name"],
        run=RunInfo(dataset=run["dataset"], variant=run["variant"], attention=run["attention"],
                    hparams=run.get("hparams") or {}, seed=run["seed"], init_seed=0),
        config=config, config_hash=canonical_hash(config),
        protocol_hash=canonical_hash(protocol_part(config)),
        status=raw["status"], failure=raw.get("failure"), attention_block=raw.get("attention_block", {}),
        data=raw.get("data", {}), env=raw.get("env", {}), metrics=metrics,
        test=TestScores(**raw["test"]) if raw.get("test") else None, history=raw.get("history", []),
        cost=raw.get("cost", {}),
        time=TimeInfo(**raw["time"], train_s=raw.get("time_train_s")),
    )
    settings = {"file": raw["suite"].get("file", ""), "description": raw["suite"].get("description", ""),
                "stats": raw.get("stats_settings", {})}
    return rec, settings


def migrate_folder(records_dir, warn) -> tuple[int, int, int]:
    """Every schema-1 record below ``records_dir`` rewritten as schema 2 and a suite.json written
    per suite folder that lacks one: (migrated, skipped, suite.json written); ``warn`` gets one
    line per file skipped."""
    from pathlib import Path

    from ..data.real import PATIENT_NAMED
    from .schema import SuiteInfo
    from .store import record_files, suite_info_path, write_record, write_suite_info

    done = skipped = 0
    suites: dict[Path, SuiteInfo] = {}
    for path in record_files(records_dir):
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            warn(f"{path}: skipped: unreadable ({exc.__class__.__name__})")
            skipped += 1
            continue
        if not isinstance(raw, dict) or raw.get("schema") != 1:
            continue
        try:
            rec, settings = migrate_v1(raw, PATIENT_NAMED)
        except (KeyError, TypeError, ValueError) as exc:
            warn(f"{path}: not migrated: {exc.__class__.__name__}: {exc}")
            skipped += 1
            continue
        folder = path.parents[2]  # <suite>/<dataset>/<variant>/seedN.json
        if folder not in suites and not suite_info_path(folder).exists():
            suites[folder] = SuiteInfo(name=rec.suite, file=settings["file"], description=settings["description"].strip(),
                                       stats={k: v for k, v in settings["stats"].items() if k != "hierarchical"})
        write_record(path, rec)
        done += 1
    for folder, info in suites.items():
        write_suite_info(folder, info)
    return done, skipped, len(suites)
