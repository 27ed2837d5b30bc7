"""What a suite's records say while it runs: the protocol a run is compared under, the board's
analysis of this suite's recorded runs (for the sequential planner and ``run``'s last table), and
what ``run`` prints: its dry-run matrix and where the runs it trained landed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .execute import RunSpec
from .records import SuiteInfo
from .suite import DatasetSpec, Suite, canonical_hash


def protocol_of(suite: Suite, dataset: DatasetSpec) -> dict[str, Any]:
    """Everything about a run that is not the attention block or the seeds."""
    train = suite.train.model_dump(exclude={"epochs_per_dataset", "device", "threads"})
    train["epochs"] = suite.epochs_for(dataset.name)
    return {"dataset": dataset.model_dump(), "train": train, "split": suite.eval.split.model_dump()}


def analyse_recorded(suite: Suite, records_dir: Path):
    """The board's analysis of this suite's recorded runs of its current protocol in ``records_dir``
    (vetted as the board vets them), or None when there are none."""
    from .analysis import analyse_suite, group
    from .records import load_records
    from .records.trust import vet

    recs, _ = load_records(records_dir) if records_dir.is_dir() else ([], [])
    recs, _, _ = vet(recs)
    protocols = {d.name: canonical_hash(protocol_of(suite, d)) for d in suite.datasets}
    keys = {a.key for a in suite.attention}
    recs = [r for r in recs if r.suite == suite.name and protocols.get(r.run.dataset) == r.protocol_hash
            and r.run.variant in keys and (suite.splits is None or r.run.seed < suite.splits.max)]
    info = SuiteInfo(name=suite.name, file="", stats=suite.eval.stats.model_dump(),
                     splits=suite.splits.model_dump() if suite.splits else None,
                     seeds=None if suite.splits else list(suite.seeds), family=suite_family(suite, records_dir))
    grouped = group(recs).get(suite.name, {})
    return analyse_suite(suite.name, dict(grouped), info) if grouped else None


def suite_family(suite: Suite, records_dir: Path) -> list[str] | None:
    """The suite's own rows as the folder's suite.json fixed them when the suite first ran (None
    before it did, or where it is unreadable: then every row is one family, as the board reads it),
    so that the planner and ``run``'s table judge a block added later in its own family, as the
    board does."""
    from .records import load_suite_infos

    info = load_suite_infos(records_dir)[0].get(suite.name) if Path(records_dir).is_dir() else None
    return info.family if info is not None and Path(info.folder) == Path(records_dir) else None


def outcome_table(suite: Suite, records_dir: Path, datasets: set[str]) -> list[list[str]]:
    """Per data set in ``datasets``: each variant against the baseline as the board now judges it
    (ΔAUC in points with its CI, the verdict), for ``run`` to print what it just added."""
    a = analyse_recorded(suite, records_dir)
    rows = []
    for ds in sorted(datasets & set(a.datasets) if a else ()):
        d = a.datasets[ds]
        for v in a.order:
            row = d.comparisons.get(v)
            if row is None:
                continue
            c = row.decisive
            rows.append([ds, v, str(len(d.variants[v].runs)) if v in d.variants else "–",
                         f"{100 * c.delta:+.1f} [{100 * c.ci_lo:+.1f}, {100 * c.ci_hi:+.1f}]" if c else "–",
                         row.outcome + (f": {row.waiting}" if row.waiting else " (≠ protocol)" if row.mixed else
                                        " (the baseline's runs come from another machine)" if row.unjudged else "")])
    return rows


def dry_run_lines(runs: list[RunSpec]) -> list[str]:
    """``run --dry-run``: the run matrix with each run's status and record, and the count."""
    from tabulate import tabulate

    rows = [[r.dataset.name, r.attention.key, r.seed, r.init_seed, r.epochs, r.status, r.path] for r in runs]
    done = sum(r.status == "done" for r in runs)
    return [tabulate(rows, ["dataset", "attention", "seed", "init", "epochs", "status", "record"], tablefmt="simple"),
            f"{len(runs)} runs, {done} done, {len(runs) - done} to do"]


def landed_lines(suite: Suite, records_dir: Path, runs: list[RunSpec]) -> list[str]:
    """What ``run`` prints at its end: where the runs it trained landed (:func:`outcome_table`)."""
    from tabulate import tabulate

    trained = {r.dataset.name for r in runs if r.status in ("todo", "failed", "damaged", "stale")}
    rows = outcome_table(suite, records_dir, trained) if trained else []
    if not rows:
        return []
    st = suite.eval.stats
    return [f"\nWhere the runs landed (against {st.baseline}; ΔAUC in AUC points, {round(100 * st.ci_level)} % CI; "
            "the board's rule, this suite only; make leaderboard for the whole board):",
            tabulate(rows, ["dataset", "variant", "runs", "ΔAUC [CI]", "verdict"], tablefmt="simple")]
