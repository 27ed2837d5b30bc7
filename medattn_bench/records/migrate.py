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
