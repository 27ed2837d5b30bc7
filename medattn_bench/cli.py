"""The ``medattn-bench`` command: thin commands that parse, call the library and render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import MedattnError

app = typer.Typer(help="Benchmark attention blocks in ResNet-18 on medical images.", add_completion=False,
                  rich_markup_mode=None, context_settings={"max_content_width": 120},
                  no_args_is_help=True, pretty_exceptions_enable=False)
list_app = typer.Typer(help="List registered attention blocks or data sets.", no_args_is_help=True)
plugin_app = typer.Typer(help="Check attention-block plugins.", no_args_is_help=True)
app.add_typer(list_app, name="list")
app.add_typer(plugin_app, name="plugin")
data_app = typer.Typer(help="Inspect, audit and download data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

def _data_root(value: str | None) -> str | None:
    """--data-root must name a folder that exists (else every real data set would be 'missing')."""
    if value is not None and not Path(value).expanduser().is_dir():
        _fail(f"--data-root {value}: no such folder; give the folder that holds skin/, cxr/, mri/ and ct/ "
              "(medattn-bench data download NAME --to DIR makes one)")
    return value


PluginOpt = Annotated[Optional[list[str]], typer.Option("--plugin", help="Import this module for its attention blocks (repeatable).")]
DataRootOpt = Annotated[Optional[str], typer.Option("--data-root", callback=_data_root,
                                                     help="Folder holding the data sets (else $MEDATTN_DATA).")]


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def _plugins(modules: list[str] | None) -> None:
    from .plugins import discover_entry_points, load_plugins

    for line in discover_entry_points():
        typer.echo(f"warning: {line}", err=True)
    load_plugins(modules or [])


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file, e.g. suites/demo.yaml.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the run matrix and which rows are done.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: train.epochs=5, attention+=[{name: se}].")] = None,
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Filter the matrix: dataset=ct,attention=cbam,seed=0.")] = None,
    plugin: PluginOpt = None,
    data_root: Annotated[Optional[str], typer.Option("--data-root", callback=_data_root,
                                                     help="Folder holding the real data sets.")] = None,
    records: Annotated[Optional[Path], typer.Option("--records", help="Records folder (default: the suite's).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bar.")] = True,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run again the runs recorded as failed.")] = False,
    rerun_stale: Annotated[bool, typer.Option("--rerun-stale", help="Replace records made with another config (by default they are left alone).")] = False,
    runs_per_device: Annotated[Optional[int], typer.Option("--runs-per-device", min=1, help="Local, CUDA: runs sharing each GPU at once (default: the suite's executor.runs_per_device).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Local: runs at a time, each in its own process (default: the suite's executor.workers).")] = None,
    executor: Annotated[Optional[str], typer.Option("--executor", help="local or slurm (default: the suite's executor.kind); slurm submits one job array and returns.")] = None,
    partition: Annotated[Optional[str], typer.Option("--partition", help="Slurm partition.")] = None,
    time_min: Annotated[Optional[int], typer.Option("--time-min", min=1, help="Slurm time limit per run, minutes.")] = None,
    gpus: Annotated[Optional[int], typer.Option("--gpus", min=0, help="Slurm GPUs per run.")] = None,
    cpus: Annotated[Optional[int], typer.Option("--cpus", min=1, help="Slurm CPUs per run.")] = None,
    mem_gb: Annotated[Optional[float], typer.Option("--mem-gb", min=0.1, help="Slurm memory per run, GB.")] = None,
) -> None:
    """Train and evaluate every (data set, attention, seed) of SUITE; skips runs already recorded."""
    from tabulate import tabulate

    from .runner import parse_only, plan, run_suite
    from .suite import load_suite

    if records is not None and str(records).strip() in ("", "."):
        _fail(f"--records {str(records)!r}: name a records folder (e.g. leaderboard/records/my-suite); the "
              "working directory itself would mix records with the project")
    if not dry_run:  # planning imports no model code (no torch, no plugin): a dry run answers at once
        _plugins(plugin)
    s = load_suite(suite, set_ or [], check=not dry_run, plugins_given=bool(plugin))
    runs = plan(s, parse_only(only or []), records)
    if not runs:
        _fail(f"--only {' '.join(only or [])}: no run of {suite} matches")
    if dry_run:
        rows = [[r.dataset.name, r.attention.key, r.seed, r.init_seed, r.epochs, r.status, r.path] for r in runs]
        typer.echo(tabulate(rows, ["dataset", "attention", "seed", "init", "epochs", "status", "record"], tablefmt="simple"))
        done = sum(r.status == "done" for r in runs)
        typer.echo(f"{len(runs)} runs, {done} done, {len(runs) - done} to do")
        return
    if executor not in (None, "local", "slurm"):
        _fail(f"--executor {executor!r}: expected local or slurm")
    ex = s.executor.model_copy(update={k: v for k, v in dict(kind=executor, workers=workers,
                                                              runs_per_device=runs_per_device, partition=partition,
                                                              time_min=time_min, gpus=gpus, cpus=cpus,
                                                              mem_gb=mem_gb).items() if v is not None})
    if ex.kind == "slurm":
        from .runner import submit_suite

        n = submit_suite(s, str(suite), runs, ex, set_ or [], records, data_root, retry_failed,
                         log=lambda m: typer.echo(m, err=True), rerun_stale=rerun_stale)
        typer.echo(f"{n} run(s) submitted; follow them with: medattn-bench status {suite}"
                   + (f" --records {records}" if records else ""))
        return
    counts = run_suite(s, str(suite), runs, set_ or [], records, data_root, ex.workers,
                       progress and sys.stderr.isatty(), retry_failed, log=lambda m: typer.echo(m, err=True),
                       runs_per_device=ex.runs_per_device, rerun_stale=rerun_stale)
    skipped = counts["skipped"]
    left = f", {counts['left_alone']} left alone (see above)" if counts["left_alone"] else ""
    typer.echo(f"{counts['ok']} run(s) ok, {counts['failed']} failed, {skipped} already recorded{left}; "
               f"records in {records or s.records_dir()}")
    trained = {r.dataset.name for r in runs if r.status in ("todo", "failed", "damaged", "stale")}
    if counts["ok"] and trained:
        from .runner import outcome_table

        rows = outcome_table(s, Path(records or s.records_dir()), trained)
        if rows:
            typer.echo(f"\nWhere the runs landed (against {s.eval.stats.baseline}; ΔAUC in AUC points, "
                       f"{round(100 * s.eval.stats.ci_level)} % CI; the board's rule, this suite only; "
                       "make leaderboard for the whole board):")
            typer.echo(tabulate(rows, ["dataset", "variant", "runs", "ΔAUC [CI]", "verdict"], tablefmt="simple"))
    if counts["failed"] or counts["left_alone"]:
        raise typer.Exit(1)  # a batch job must not look green when runs failed or were not run


def _suite_infos(records_dir: Path, write: bool = True) -> tuple[dict, list[str]]:
    """suite.json of each suite, refreshed from its suite file where that still exists, so a
    changed description or statistics setting reaches the board without retraining; the refreshed
    suite.json is written back unless ``write`` is False (``leaderboard --check`` only reads)."""
    from pydantic import ValidationError

    from .records import load_suite_infos, write_suite_info
    from .suite import Suite, _read_yaml, apply_override

    infos, problems = load_suite_infos(records_dir)
    for name, info in infos.items():
        path = Path(info.file)
        if not path.is_file():
            continue
        try:
            raw = _read_yaml(path)
            for expr in info.overrides:
                apply_override(raw, expr)
            s = Suite.model_validate(raw)
        except (MedattnError, ValidationError) as exc:
            problems.append(f"{path}: not re-read ({str(exc).splitlines()[0]}); using its suite.json")
            continue
        if s.name != name:
            continue
        fresh = info.model_copy(update={"description": s.description.strip(), "protocol": s.protocol.strip(),
                                        "stats": s.eval.stats.model_dump(),
                                        "splits": s.splits.model_dump() if s.splits else None,
                                        "paper_reference": s.paper_reference, "check_against": s.check_against,
                                        # a folder from before families were recorded: the suite as it ran
                                        "family": info.family or [a.key for a in s.attention]})
        if fresh != info:
            if write:
                write_suite_info(Path(info.folder), fresh)
            infos[name] = fresh
    return infos, problems


@app.command()
def leaderboard(
    records_dir: Annotated[Path, typer.Argument(help="Folder of run records.")] = Path("leaderboard/records"),
    out: Annotated[Path, typer.Option("--out", help="Markdown file to write ('-' for stdout).")] = Path("leaderboard/README.md"),
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="Rank rows whose protocol differs from the baseline's.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if OUT differs from a fresh render; writes nothing.")] = False,
    allow_duplicates: Annotated[bool, typer.Option("--allow-duplicates", help="Exit 0 although two records claim the same run (neither is used either way).")] = False,
    html: Annotated[Optional[Path], typer.Option("--html", help="Also write the leaderboard page (self-contained HTML) here.")] = None,
) -> None:
    """Render the leaderboard markdown (and a forest plot per suite) from the stored records. Each
    records folder's suite.json is first refreshed from its suite file where that file still exists
    (a new description or statistics setting needs no retraining) and written back, wherever OUT is;
    --check reads only."""
    from .analysis import analyse
    from .leaderboard import render_analyses
    from .jsonio import write_text_atomic

    if not records_dir.is_dir():
        _fail(f"{records_dir}: no such records folder (run a suite first: medattn-bench run suites/demo.yaml)")
    if str(out) != "-" and out.is_dir():
        _fail(f"--out {out}: is a folder; name the markdown file to write, e.g. {out / 'README.md'}")
    recs, problems, n_dup = _vetted_records(records_dir)
    infos, info_problems = _suite_infos(records_dir, write=not check)
    marks, mark_problems = _submission_marks(recs, infos)
    problems += info_problems + mark_problems
    for p in problems:
        typer.echo(f"warning: {p}", err=True)
    analyses = analyse(recs, infos, allow_mixed, marks)
    figures: dict[str, str] = {}
    if str(out) != "-":
        from .figures import forest_plot

        for a in analyses:
            rel = Path("figures") / f"{a.name}-forest.svg"
            if check:
                if (out.parent / rel).exists():
                    figures[a.name] = str(rel)
            elif forest_plot(a, out.parent / rel):
                figures[a.name] = str(rel)
            if figures.get(a.name) and a.claims:
                figures[f"{a.name}/findings"] = figures[a.name]
            for ds in a.datasets:  # Grad-CAM figures written by `medattn-bench cam`
                cam_png = Path("figures") / f"{a.name}-{ds}-cam.png"
                if (out.parent / cam_png).is_file():
                    figures[f"{a.name}/{ds}"] = str(cam_png)
    text = render_analyses(analyses, problems, figures)
    outputs = [(out, text)]
    if html is not None:
        from .page import render_page

        if html.is_dir():
            _fail(f"--html {html}: is a folder; name the page to write, e.g. {html / 'index.html'}")
        page_figs = {k: _rel_to(out.parent / v, html.parent) for k, v in figures.items()} if str(out) != "-" else {}
        outputs.append((html, render_page(analyses, page_figs, html.parent, _rel_to(out, html.parent), problems)))
    for path, content in outputs:
        if str(path) == "-":
            typer.echo(content, nl=False)
        elif check:
            if not path.exists() or path.read_text() != content:
                typer.echo(f"{path} differs from a fresh render of {records_dir}; run: make leaderboard", err=True)
                raise typer.Exit(1)
            typer.echo(f"{path} is up to date ({len(recs)} records)")
        else:
            try:
                write_text_atomic(path, content)
            except OSError as exc:
                _fail(f"{path}: cannot write ({exc.strerror or exc})")
            typer.echo(f"wrote {path} from {len(recs)} records")
    if n_dup and not allow_duplicates:
        typer.echo(f"error: {n_dup} record files claim runs that another file claims too (named above; none of "
                   "them is used): remove the wrong ones, or pass --allow-duplicates", err=True)
        raise typer.Exit(1)


def _rel_to(path: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def _submission_marks(recs: list, infos: dict) -> tuple[dict, list[str]]:
    """The submitted rows' marks from each suite folder's .submissions/ (see ``submission.marks``)."""
    from .records.submission import marks

    return marks(recs, {name: Path(i.folder) for name, i in infos.items() if i.folder})


def _vetted_records(records_dir: Path):
    """Records below ``records_dir`` that pass :func:`medattn_bench.trust.vet`, one line per file
    not used, and how many files are duplicate claims."""
    from .records import load_records
    from .records.trust import vet

    recs, problems = load_records(records_dir)
    usable, unused, n_dup = vet(recs)
    return usable, problems + [u.line() for u in unused], n_dup


@app.command()
def export(
    records_dir: Annotated[Path, typer.Argument(help="Folder of run records.")] = Path("leaderboard/records"),
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or latex.")] = "csv",
    out: Annotated[Path, typer.Option("--out", help="Folder for runs.<ext> and comparisons.<ext> (latex: tables.tex).")] = Path("export"),
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="Rank rows whose protocol differs from the baseline's.")] = False,
    suite: Annotated[Optional[list[str]], typer.Option("--suite", help="Only this suite (repeatable); default every suite.")] = None,
) -> None:
    """Tidy tables of the same analysis the board shows: one row per run the board uses (A/A copies
    included and labelled), one per comparison."""
    from .analysis import analyse
    from .export import write_exports

    if fmt not in ("csv", "jsonl", "latex"):
        _fail(f"--format {fmt!r}: expected csv, jsonl or latex")
    if not records_dir.is_dir():
        _fail(f"{records_dir}: no such records folder")
    if out.exists() and not out.is_dir():
        _fail(f"--out {out}: is a file; name a folder for the tables")
    recs, problems, _ = _vetted_records(records_dir)
    infos, info_problems = _suite_infos(records_dir, write=False)
    marks, mark_problems = _submission_marks(recs, infos)
    for p in problems + info_problems + mark_problems:
        typer.echo(f"warning: {p}", err=True)
    if suite:
        known = sorted({r.suite for r in recs})
        unknown = [x for x in suite if x not in known]
        if unknown:
            _fail(f"--suite {unknown[0]}: no records of that suite in {records_dir}; suites there: {', '.join(known)}")
        recs = [r for r in recs if r.suite in suite]
    try:
        analyses = analyse(recs, infos, allow_mixed, marks)
        paths = write_exports(analyses, fmt, out)
    except OSError as exc:
        _fail(f"--out {out}: cannot write ({exc.strerror or exc})")
    from .export import run_rows

    typer.echo(f"wrote {', '.join(str(p) for p in paths)}: {len(run_rows(analyses))} runs the board uses, of "
               f"{len(recs)} records read (later splits of a sequential suite wait for their look)")


@app.command()
def cam(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file whose runs kept their weights (eval.cam.keep_weights).")],
    dataset: Annotated[str, typer.Option("--dataset", help="Data set of the figure.")],
    seed: Annotated[int, typer.Option("--seed", help="Split seed whose test images are shown.")] = 0,
    n: Annotated[int, typer.Option("--n", min=1, max=24, help="Test images (half per class).")] = 6,
    method: Annotated[str, typer.Option("--method", help="gradcam or gradcam++.")] = "gradcam",
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNG and PDF.")] = Path("leaderboard/figures"),
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="The overrides the suite was run with.")] = None,
    records: Annotated[Optional[Path], typer.Option("--records", help="Records folder (default: the suite's).")] = None,
    data_root: DataRootOpt = None,
    plugin: PluginOpt = None,
    note: Annotated[str, typer.Option("--note", help="A line added under the figure's title (e.g. where its weights came from).")] = "",
) -> None:
    """The study's Grad-CAM figure: rows are variants, columns test images, P(true class) printed."""
    from .camfig import cam_figure_for, select_runs
    from .runner import plan
    from .suite import load_suite

    if method not in ("gradcam", "gradcam++"):
        _fail(f"--method {method!r}: expected gradcam or gradcam++")
    _plugins(plugin)
    s = load_suite(suite, set_ or [])
    runs = select_runs(plan(s, records_dir=records), dataset, seed)
    from .errors import RecordError

    try:
        files, worst = cam_figure_for(runs, data_root or s.data_root, n, method, out, s.name, s.eval.cam.layer, note)
    except RecordError as exc:
        if "weights" not in str(exc) or "sha256" in str(exc):
            raise
        sets = "".join(f" --set '{x}'" for x in set_ or [])
        _fail(f"{exc}. Weights are not committed (about 45 MB a run); re-train this split with its weights kept "
              f"into a folder of your own, then draw from there: medattn-bench run {suite} --only "
              f"dataset={dataset},seed={seed} --set 'eval.cam.keep_weights=[{seed}]'{sets} --records DIR && "
              f"medattn-bench cam {suite} --dataset {dataset} --seed {seed} --records DIR{sets}")
    typer.echo(f"wrote {', '.join(str(f) for f in files)}; reloaded weights reproduce the recorded scores "
               f"(largest difference {worst:.2g})")


@app.command()
def verify(
    records: Annotated[list[Path], typer.Argument(help="Record files (.json) to re-train and compare.")],
    data_root: DataRootOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """Re-train the runs that records describe, from their stored config and arithmetic settings, on this
    machine, and decide: identical; consistent (other settings, |ΔAUC| within 3 sd of the variant's AUC
    over its folder's other runs); or not reproduced / not consistent / undecided (exit 1)."""
    from .verify import verify_record

    _plugins(plugin)
    bad = 0
    for path in records:
        if not path.is_file():
            _fail(f"{path}: no such record file")
        v = verify_record(path, data_root, tuple(plugin or ()))
        typer.echo(v.line())
        bad += not v.ok
    if bad:
        raise typer.Exit(1)


@app.command()
def submit(
    records_dir: Annotated[Path, typer.Argument(help="The records folder of one suite (holds suite.json).")],
    attention: Annotated[str, typer.Option("--attention", help="The block's row (its label or name) to send.")],
    out: Annotated[Path, typer.Option("--out", help="A new folder for the bundle.")] = Path("submission"),
) -> None:
    """Bundle a block's records for a pull request: the records, their sha256, the block's
    distribution, version and source hash and the machines they ran on (submission.json)."""
    from .records.submission import bundle

    sub, warnings = bundle(records_dir, attention, out)
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    machines = sorted({e.machine for e in sub.records})
    typer.echo(f"wrote {out}: {len(sub.records)} records of {sub.block} ({sub.distribution or sub.origin} "
               f"{sub.version or ''}, source {(sub.source_sha256 or 'not recorded')[:12]}) from {'; '.join(machines)}. "
               f"Open a pull request with {out}/ added under leaderboard/submissions/{sub.block}/, filled in as "
               ".github/PULL_REQUEST_TEMPLATE.md asks; a maintainer runs: medattn-bench review "
               f"leaderboard/submissions/{sub.block} --accept leaderboard/records")


@app.command()
def review(
    bundle_dir: Annotated[Path, typer.Argument(help="A submission bundle (holds submission.json).")],
    sample: Annotated[int, typer.Option("--sample", min=1, help="Records to re-train, drawn at random.")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw.")] = 0,
    accept: Annotated[Optional[Path], typer.Option("--accept", help="When every re-trained record is consistent, add the records to this records root (never replacing one) and keep the submission and check beside them.")] = None,
    data_root: DataRootOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """The maintainer's check of a submission: the bundle against its own file list, the installed
    block against the submitted code, then a sample of records re-trained with `verify`; writes
    check.json. Exit 1 when a re-trained record is not consistent (nothing accepted)."""
    from .review import review as run_review
    from .records.submission import accept as accept_bundle

    if not (bundle_dir / "submission.json").is_file():
        _fail(f"{bundle_dir}: no submission.json (make a bundle with: medattn-bench submit RECORDS --attention NAME --out DIR)")
    _plugins(plugin)
    check = run_review(bundle_dir, sample, seed, data_root, tuple(plugin or ()), log=typer.echo)
    bad = [r for r in check.results if r.verdict not in ("identical", "consistent")]
    typer.echo(f"re-trained {check.sampled} of {check.of}: " + ("consistent" if not bad else f"{len(bad)} not consistent")
               + f"; wrote {bundle_dir / 'check.json'}")
    if bad:
        raise typer.Exit(1)
    if accept is not None:
        added = accept_bundle(bundle_dir, accept)
        typer.echo(f"accepted into {accept / check.suite}: {len(added)} records added; run make leaderboard")


@app.command()
def status(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file whose runs to show.")],
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="The overrides the suite was run with.")] = None,
    records: Annotated[Optional[Path], typer.Option("--records", help="Records folder (default: the suite's).")] = None,
    plugin: PluginOpt = None,
    all_runs: Annotated[bool, typer.Option("--all", help="List every run, not only those not done.")] = False,
) -> None:
    """Pending / running / done / failed / lost per run, from the records and the Slurm queue."""
    from collections import Counter

    from tabulate import tabulate

    from .executors.slurm import run_status
    from .runner import plan
    from .suite import load_suite

    if plugin:  # as for run --dry-run: the plan needs no model code unless a plugin is named
        _plugins(plugin)
    s = load_suite(suite, set_ or [], check=False, plugins_given=bool(plugin))
    folder = Path(records or s.records_dir())
    rows = run_status(plan(s, records_dir=folder), folder)
    counts = Counter(state for _, state, _ in rows)
    shown = [[r.name, state, job] for r, state, job in rows if all_runs or state != "done"]
    if shown:
        typer.echo(tabulate(shown, ["run", "state", "slurm job"], tablefmt="simple"))
    typer.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" ({len(rows)} runs)")


records_app = typer.Typer(help="Maintain run records.", no_args_is_help=True)
app.add_typer(records_app, name="records")


@records_app.command("migrate")
def records_migrate(records_dir: Annotated[Path, typer.Argument(help="Folder of run records (searched recursively).")]) -> None:
    """Rewrite schema-1 records as schema 2 (typed records; suite settings moved to suite.json)."""
    import json

    from .data.real import PATIENT_NAMED
    from .records import SuiteInfo, migrate_v1, record_files, suite_info_path, write_record, write_suite_info

    if not records_dir.is_dir():
        _fail(f"{records_dir}: no such records folder")
    done = skipped = 0
    suites: dict[Path, SuiteInfo] = {}
    for path in record_files(records_dir):
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            typer.echo(f"warning: {path}: skipped: unreadable ({exc.__class__.__name__})", err=True)
            skipped += 1
            continue
        if not isinstance(raw, dict) or raw.get("schema") != 1:
            continue
        try:
            rec, settings = migrate_v1(raw, PATIENT_NAMED)
        except (KeyError, TypeError, ValueError) as exc:
            typer.echo(f"warning: {path}: not migrated: {exc.__class__.__name__}: {exc}", err=True)
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
    typer.echo(f"migrated {done} record(s) to schema 2, {skipped} skipped; {len(suites)} suite.json written")


@app.command()
def compare(
    records_dir: Annotated[Path, typer.Argument(help="Folder of run records (one suite, or pick with --suite).")],
    a: Annotated[str, typer.Option("--a", help="Variant to test, e.g. cbam.")],
    b: Annotated[str, typer.Option("--b", help="Reference variant.")] = "none",
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only this data set.")] = None,
    suite: Annotated[Optional[str], typer.Option("--suite", help="Suite name, when the folder holds several.")] = None,
) -> None:
    """The full paired comparison of variant A against B: per seed, pooled, both tests."""
    from .compare import compare_report

    if not records_dir.is_dir():
        _fail(f"{records_dir}: no such records folder")
    typer.echo(compare_report(records_dir, a, b, dataset, suite, warn=lambda m: typer.echo(f"warning: {m}", err=True)))


@list_app.command("attention")
def list_attention(pattern: Annotated[str, typer.Argument(help="fnmatch pattern, e.g. 'se*'.")] = "*",
                   plugin: PluginOpt = None,
                   params: Annotated[bool, typer.Option("--params", help="Add each block's parameters at 64 channels (loads torch and the plugins).")] = False,
                   cost: Annotated[bool, typer.Option("--cost", help="Add params and MACs overhead on ResNet-18 at 224 px.")] = False) -> None:
    """Name, origin, paper and placement of each block; installed plugins are listed from their
    package metadata and only imported with --params, --cost or --plugin."""
    from tabulate import tabulate

    if not (params or cost or plugin):
        from fnmatch import fnmatch

        from .names import BUILTIN_ATTENTION_INFO, entry_point_origins

        rows = [[n, "built-in", paper, placement] for n, (paper, placement) in BUILTIN_ATTENTION_INFO.items()]
        rows += [[n, f"{origin} (plugin)", "(not loaded: --params loads it)", ""]
                 for n, origin in entry_point_origins().items() if n not in BUILTIN_ATTENTION_INFO]
        rows = sorted(r for r in rows if fnmatch(r[0], pattern))
        if not rows:
            _fail(f"no attention block matches {pattern!r}; available: {', '.join(sorted(BUILTIN_ATTENTION_INFO))}")
        typer.echo(tabulate(rows, ["name", "origin", "paper", "placement"], tablefmt="simple", disable_numparse=True))
        return

    from .attention import ATTENTION, build_attention

    _plugins(plugin)
    rows = []
    base = None
    if cost:
        from .cost import static_cost

        base = static_cost("none", None, 224)
    for e in ATTENTION.entries(pattern):
        n_params = sum(p.numel() for p in build_attention(e.name, 64).parameters())
        row = [e.name, e.origin, e.meta.get("paper", ""), e.meta.get("placement", "block"), f"{n_params:,}"]
        if base is not None:
            s = static_cost(e.name, None, 224)
            row += [f"{s.params - base.params:+,}", f"{(s.macs - base.macs) / 1e6:+.2f}", f"{100 * (s.macs / base.macs - 1):+.2f}"]
        rows.append(row)
    if not rows:
        _fail(f"no attention block matches {pattern!r}; available: {', '.join(ATTENTION.names())}")
    headers = ["name", "origin", "paper", "placement", "params @64ch"]
    if cost:
        headers += ["Δparams ResNet-18", "ΔMMACs @224", "ΔMACs %"]
    typer.echo(tabulate(rows, headers, tablefmt="simple", disable_numparse=True))


@list_app.command("datasets")
def list_datasets(pattern: Annotated[str, typer.Argument(help="fnmatch pattern.")] = "*") -> None:
    """Registered data sets and their options."""
    from fnmatch import fnmatch

    from tabulate import tabulate

    from .names import BUILTIN_DATASET_INFO

    rows = [[n, d, ", ".join(o)] for n, (d, o) in BUILTIN_DATASET_INFO.items() if fnmatch(n, pattern)]
    if not rows:
        _fail(f"no data set matches {pattern!r}; available: {', '.join(BUILTIN_DATASET_INFO)}")
    typer.echo(tabulate(rows, ["name", "description", "options"], tablefmt="simple"))


@app.command()
def profile(
    attention: Annotated[str, typer.Option("--attention", help="Attention block name.")] = "none",
    size: Annotated[int, typer.Option("--size", min=16, help="Image side in pixels.")] = 224,
    batch: Annotated[int, typer.Option("--batch", min=2, help="Batch size for throughput.")] = 64,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto, bf16 or fp32.")] = "auto",
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed repeats (median, min, max).")] = 5,
    plugin: PluginOpt = None,
    recost: Annotated[Optional[Path], typer.Option("--recost", help="Suite YAML: re-measure all its cost rows together, each interleaved with the baseline, into its suite.json (no retraining).")] = None,
    records: Annotated[Optional[Path], typer.Option("--records", help="With --recost: records folder (default: the suite's).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="With --recost: the overrides the suite was run with.")] = None,
) -> None:
    """Parameters, MACs (total and attention share) and throughput of ResNet-18 + ATTENTION."""
    from .cost import measure_throughput, static_cost
    from .engine import resolve_device

    if recost is not None:
        _recost(recost, records, set_ or [], plugin, repeats)
        return

    for name, value, valid in (("--device", device, ("auto", "cpu", "cuda")), ("--precision", precision, ("auto", "bf16", "fp32"))):
        if value not in valid:
            _fail(f"{name} {value!r}: expected one of {', '.join(valid)}")
    _plugins(plugin)
    from .attention import ATTENTION

    if ATTENTION.entry(attention).origin != "built-in":  # a plugin is profiled only if it keeps the contract
        from .contract import check_block

        report = check_block(attention)
        if not report.ok:
            _fail(f"--attention {attention}: plugin block ({ATTENTION.entry(attention).origin}) breaks the block "
                  f"contract: {'; '.join(report.failures)} (details: medattn-bench plugin check {attention})")
    dev = resolve_device(device, precision, image_size=size, batch_size=batch)
    s = static_cost(attention, None, size)
    base = static_cost("none", None, size)
    typer.echo(f"ResNet-18 + {attention} at {size} px, 2 classes")
    typer.echo(f"params      {s.params:,} (attention {s.params_attention:,}; +{s.params - base.params:,} vs baseline)")
    typer.echo(f"MACs        {s.macs / 1e9:.4f} G (attention {s.macs_attention / 1e6:.2f} M = "
               f"{100 * s.macs_attention / s.macs:.2f} %; {100 * (s.macs / base.macs - 1):+.2f} % vs baseline) [{s.counter}]")
    typer.echo(f"uncounted   {s.uncounted_ops or 'none'}")
    t = measure_throughput(attention, None, size, batch, dev, repeats)
    typer.echo(f"device      {t.device} ({t.device_name}), {t.dtype}, channels_last={t.channels_last}, "
               f"{t.threads} threads, batch {t.batch_size}, timer: {t.timer}")
    typer.echo(f"train       {t.train_img_s:.1f} img/s (median of {t.repeats}; min {t.train_img_s_min:.1f}, max {t.train_img_s_max:.1f})")
    typer.echo(f"inference   {t.infer_img_s:.1f} img/s (median of {t.repeats}; min {t.infer_img_s_min:.1f}, max {t.infer_img_s_max:.1f})")
    if t.peak_memory_mb is not None:
        typer.echo(f"peak memory {t.peak_memory_mb:.0f} MiB")


def _recost(suite_file: Path, records: Path | None, overrides: list[str], plugin: list[str] | None,
            repeats: int) -> None:
    """Every variant of a suite measured now, together, each interleaved with the baseline, stored
    in the records folder's suite.json (the board prefers it to the costs taken at training time)."""
    import os

    from types import SimpleNamespace

    from .executors.local import measure_costs
    from .records import load_suite_infos, write_suite_info
    from .runner import FolderLock, baseline_spec
    from .suite import load_suite

    _plugins(plugin)
    s = load_suite(suite_file, overrides)
    folder = Path(records or s.records_dir())
    infos, _ = load_suite_infos(folder)
    info = infos.get(s.name)
    if info is None or Path(info.folder) != folder:
        _fail(f"{folder}: no suite.json of suite {s.name!r}; run the suite first (or name its --records)")
    if not overrides and info.overrides:  # the suite as it was run (e.g. a variant added with --set)
        s = load_suite(suite_file, info.overrides)
        typer.echo(f"with the overrides the suite was run with: {' '.join(info.overrides)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (s.train.threads or os.cpu_count() or 1) / 2:
        typer.echo(f"warning: load average {load:.1f} before measuring: other work shares the cores", err=True)
    base = baseline_spec(s)
    with FolderLock(folder):
        costs = measure_costs([SimpleNamespace(attention=a, train=s.train) for a in s.attention], max(repeats, 3),
                              s.eval.cost.warmup, True, s.train.threads, base)
        for a in s.attention:
            if "unavailable" in costs[a.key]:
                _fail(f"{suite_file}: attention {a.key!r}: {costs[a.key]['unavailable']}")
            tp = costs[a.key]["throughput"]
            typer.echo(f"{a.key}: train {tp['train_img_s']:.0f} img/s, {tp['train_ratio']:.2f}x {base.key if base else ''}"
                       f" [{tp['train_ratio_min']:.2f}, {tp['train_ratio_max']:.2f}]; load {tp['load_avg']:.1f}")
        kept = {k: v for k, v in info.costs.items() if k not in costs}  # never drop a row it did not re-measure
        if kept:
            typer.echo(f"warning: kept the earlier cost rows of {', '.join(sorted(kept))}: not in the suite as given "
                       "(name them with --set to re-measure them beside the others)", err=True)
        write_suite_info(folder, info.model_copy(update={"costs": {**kept, **costs}}))
    typer.echo(f"wrote the cost rows of {len(costs)} variants to {folder / 'suite.json'}; run: make leaderboard")


@plugin_app.command("check")
def plugin_check(
    name: Annotated[str, typer.Argument(help="Registered attention block name.")],
    plugin: PluginOpt = None,
    size: Annotated[int, typer.Option("--size", min=32, help="Image side for the MACs overhead.")] = 224,
) -> None:
    """Check the block contract and print the block's params and MACs overhead on ResNet-18."""
    from .contract import check_block, describe
    from .cost import static_cost

    _plugins(plugin)
    info = describe(name)
    report = check_block(name)
    typer.echo(f"{name} ({info['origin']}; {info['paper'] or 'no paper given'}; placement {info['placement']})")
    if not report.ok:
        for f in report.failures:
            typer.echo(f"FAIL: {f}", err=True)
        raise typer.Exit(1)
    s, base = static_cost(name, None, size), static_cost("none", None, size)
    typer.echo("contract: ok (shape at 4 stage shapes in train and eval, gradients, no NaN, eval determinism, bf16)")
    typer.echo(f"params overhead on ResNet-18: +{s.params - base.params:,}; MACs overhead at {size} px: "
               f"+{(s.macs - base.macs) / 1e6:.2f} M ({100 * (s.macs / base.macs - 1):+.2f} %)")


def _resolve_data(target: str, data_root: str | None):
    """ROOT (a folder in a known layout) or NAME (a native data set) -> (name, root, items)."""
    from .data.real import NATIVE, detect_layout, items_for, resolve_root
    from .errors import DataError

    if target in NATIVE:
        folder, detect, *_ = NATIVE[target]
        root = resolve_root(target, folder, None, data_root, detect)
        return target, root, items_for(target, root)
    root = Path(target)
    if not root.is_dir():
        raise DataError(f"{target}: neither a data set name ({', '.join(NATIVE)}) nor a folder")
    name = detect_layout(root)
    if name is None:
        subs = sorted(p.name for p in root.iterdir())[:12]
        raise DataError(f"{root}: no known layout (skin, cxr, mri, ct) found; its entries: {subs}")
    return name, root, items_for(name, root)




@data_app.command("info")
def data_info(target: Annotated[str, typer.Argument(help="A data set name (skin, cxr, mri, ct) or a folder.")],
              data_root: DataRootOpt = None) -> None:
    """Counts per class and source split, subclasses, image modes and size range (headers only)."""
    from collections import Counter

    from PIL import Image
    from tabulate import tabulate

    name, root, items = _resolve_data(target, data_root)
    counts = Counter((it.split or "-", it.subclass, it.label) for it in items)
    rows = [[split, sub, label, n] for (split, sub, label), n in sorted(counts.items())]
    modes, sizes, bad = Counter(), [], 0
    for it in items:
        try:
            with Image.open(it.path) as im:
                modes[f"{im.format}/{im.mode}"] += 1
                sizes.append(im.size)
        except OSError:
            bad += 1
    typer.echo(f"{name} at {root}: {len(items)} images")
    typer.echo(tabulate(rows, ["source split", "folder / subclass", "label", "images"], tablefmt="simple"))
    by_label = Counter(it.label for it in items)
    typer.echo(f"per label: {dict(sorted(by_label.items()))}")
    typer.echo(f"formats/modes: {dict(modes.most_common())}" + (f"; unreadable headers: {bad}" if bad else ""))
    if sizes:
        w, h = zip(*sizes)
        typer.echo(f"sizes: width {min(w)}-{max(w)} px, height {min(h)}-{max(h)} px")


@data_app.command("audit")
def data_audit(target: Annotated[str, typer.Argument(help="A data set name (skin, cxr, mri, ct) or a folder.")],
               data_root: DataRootOpt = None,
               threshold: Annotated[int, typer.Option("--threshold", min=0, max=64, help="dHash Hamming threshold (of 256 bits).")] = 8,
               show: Annotated[int, typer.Option("--show", min=0, help="How many groups to list.")] = 20) -> None:
    """Exact and near-duplicate groups; which cross labels or the official split."""
    import numpy as np

    from .data.cache import load_items
    from .data.real import NATIVE, RealOptions

    name, root, items = _resolve_data(target, data_root)

    def load(**opts):  # the cache stores decoded pixels and groups per threshold: the second load is cheap
        return load_items(name, root, items, NATIVE[name][3], RealOptions(size=64, skip_corrupt=True, **opts), 1)

    ds = load(hash_threshold=threshold)
    exact_groups = load(near_duplicates=False).groups
    groups, split, s = ds.groups, ds.official_split, ds.meta["audit"]
    n_exact = int((np.unique(exact_groups, return_counts=True)[1] > 1).sum())
    typer.echo(f"{name} at {root}: {len(ds)} images; {s['groups']} duplicate groups holding {s['images_in_groups']} "
               f"images ({n_exact} sets of pixel-identical images); {s['cross_label']} groups cross labels, "
               f"{s['cross_official_split']} cross the official split")
    pats = ds.meta.get("patients")
    if pats:
        line = (f"{pats['patients']} patients or source cases named by the files, {pats['with_several_images']} with "
                f"several images ({pats['images_of_those']} images)")
        if split is not None:
            line += f"; {pats['cross_official_split']} of them with images on both sides of the official split"
        typer.echo(line)
        if split is not None and pats["cross_official_split"]:
            sides: dict[int, set] = {}
            for p, sp in zip(ds.patients.tolist(), split.tolist()):
                sides.setdefault(p, set()).add("test" if sp == "test" else "train")
            example = {p: ds.ids[i] for i, p in reversed(list(enumerate(ds.patients.tolist())))}
            crossing = [example[p] for p, v in sorted(sides.items()) if len(v) > 1]
            typer.echo("  e.g. " + ", ".join(crossing[:show]) + (" ..." if len(crossing) > show else ""))
    uniq, counts = np.unique(groups, return_counts=True)
    listed = 0
    for g in uniq[np.argsort(-counts, kind="stable")]:
        members = np.flatnonzero(groups == g)
        if len(members) < 2 or listed >= show:
            continue
        listed += 1
        flags = []
        if len(set(ds.labels[members].tolist())) > 1:
            flags.append("CROSSES LABELS")
        if split is not None and len(set(split[members].tolist())) > 1:
            flags.append("crosses official split")
        kind = "exact" if len(set(exact_groups[members].tolist())) == 1 else "near"
        typer.echo(f"- group of {len(members)} ({kind}){': ' + ', '.join(flags) if flags else ''}")
        for i in members[:6]:
            typer.echo(f"    {ds.ids[i]}  [{ds.classes[ds.labels[i]]}{', ' + split[i] if split is not None else ''}]")


@data_app.command("download")
def data_download(
    name: Annotated[str, typer.Argument(help="skin, cxr, mri, ct, pneumoniamnist or dermamnist.")],
    to: Annotated[Path, typer.Option("--to", help="Folder to install into (the data root).")],
    url: Annotated[Optional[str], typer.Option("--url", help="A mirror to fetch from instead of the public source.")] = None,
    sha256: Annotated[Optional[str], typer.Option("--sha256", help="Expected sha256 of the download.")] = None,
    md5: Annotated[Optional[str], typer.Option("--md5", help="Expected md5 of the download.")] = None,
) -> None:
    """Download a data set from its public source, verify it and install it atomically."""
    from .data.download import download

    path = download(name, to, url, sha256, md5, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"installed {path}")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"medattn-bench {version('medattn-bench')}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Benchmark attention blocks in ResNet-18 on medical images."""


def command():
    """The click command behind ``app``, with the conventional metavars of a Unix tool (``--records
    RECORDS``, ``SUITE``) instead of Typer's type labels (``<path>``, ``<list[str]>``)."""
    cmd = typer.main.get_command(app)

    def walk(c) -> None:
        for p in c.params:
            if p.metavar is None and not getattr(p, "is_flag", False) and not getattr(p, "count", False):
                longs = [o for o in p.opts if o.startswith("--")]
                p.metavar = (longs[0][2:] if longs else p.name or "value").upper().replace("-", "_")
            if p.param_type_name == "argument":  # Typer shows an argument's type after it, and braces in usage
                name = p.metavar + ("..." if p.nargs != 1 else "")
                p.display_type_rich = lambda ctx: None
                p._usage_display_name = lambda name=name, req=p.required: name if req else f"[{name}]"
        for sub in getattr(c, "commands", {}).values():
            walk(sub)

    walk(cmd)
    return cmd


def main() -> None:
    """Entry point: one readable line and exit code 2 for every user error, never a traceback."""
    try:
        command()(prog_name="medattn-bench")
    except MedattnError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
