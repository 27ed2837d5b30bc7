"""Commands that read records: ``leaderboard``, ``export``, ``compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app, fail, warn


def vetted_records(records_dir: Path):
    """Records below ``records_dir`` that pass :func:`medattn_bench.records.trust.vet`, one line per file
    not used, and how many files are duplicate claims."""
    from ..records import load_records
    from ..records.trust import vet

    recs, problems = load_records(records_dir)
    usable, unused, n_dup = vet(recs)
    return usable, problems + [u.line() for u in unused], n_dup


def submission_marks(recs: list, infos: dict) -> tuple[dict, list[str]]:
    """The submitted rows' marks from each suite folder's .submissions/ (``records.submission.marks``)."""
    from ..records.submission import marks

    return marks(recs, {name: Path(i.folder) for name, i in infos.items() if i.folder})


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
    from ..analysis import analyse
    from ..jsonio import write_text_atomic
    from ..leaderboard.files import board_files

    if not records_dir.is_dir():
        fail(f"{records_dir}: no such records folder (run a suite first: medattn-bench run suites/demo.yaml)")
    if str(out) != "-" and out.is_dir():
        fail(f"--out {out}: is a folder; name the markdown file to write, e.g. {out / 'README.md'}")
    if html is not None and html.is_dir():
        fail(f"--html {html}: is a folder; name the page to write, e.g. {html / 'index.html'}")
    recs, problems, n_dup = vetted_records(records_dir)
    from ..suite import refreshed_infos

    infos, info_problems = refreshed_infos(records_dir, write=not check)
    marks, mark_problems = submission_marks(recs, infos)
    problems += info_problems + mark_problems
    for p in problems:
        warn(p)
    for path, content in board_files(analyse(recs, infos, allow_mixed, marks), out, html, problems, check):
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
                fail(f"{path}: cannot write ({exc.strerror or exc})")
            typer.echo(f"wrote {path} from {len(recs)} records")
    if n_dup and not allow_duplicates:
        typer.echo(f"error: {n_dup} record files claim runs that another file claims too (named above; none of "
                   "them is used): remove the wrong ones, or pass --allow-duplicates", err=True)
        raise typer.Exit(1)


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
    from ..analysis import analyse
    from ..export import write_exports

    if fmt not in ("csv", "jsonl", "latex"):
        fail(f"--format {fmt!r}: expected csv, jsonl or latex")
    if not records_dir.is_dir():
        fail(f"{records_dir}: no such records folder")
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: is a file; name a folder for the tables")
    recs, problems, _ = vetted_records(records_dir)
    from ..suite import refreshed_infos

    infos, info_problems = refreshed_infos(records_dir, write=False)
    marks, mark_problems = submission_marks(recs, infos)
    for p in problems + info_problems + mark_problems:
        typer.echo(f"warning: {p}", err=True)
    if suite:
        known = sorted({r.suite for r in recs})
        unknown = [x for x in suite if x not in known]
        if unknown:
            fail(f"--suite {unknown[0]}: no records of that suite in {records_dir}; suites there: {', '.join(known)}")
        recs = [r for r in recs if r.suite in suite]
    try:
        analyses = analyse(recs, infos, allow_mixed, marks)
        paths = write_exports(analyses, fmt, out)
    except OSError as exc:
        fail(f"--out {out}: cannot write ({exc.strerror or exc})")
    from ..export import run_rows

    typer.echo(f"wrote {', '.join(str(p) for p in paths)}: {len(run_rows(analyses))} runs the board uses, of "
               f"{len(recs)} records read (later splits of a sequential suite wait for their look)")


@app.command()
def compare(
    records_dir: Annotated[Path, typer.Argument(help="Folder of run records (one suite, or pick with --suite).")],
    a: Annotated[str, typer.Option("--a", help="Variant to test, e.g. cbam.")],
    b: Annotated[str, typer.Option("--b", help="Reference variant.")] = "none",
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only this data set.")] = None,
    suite: Annotated[Optional[str], typer.Option("--suite", help="Suite name, when the folder holds several.")] = None,
) -> None:
    """The full paired comparison of variant A against B: per seed, pooled, both tests."""
    from ..compare import compare_report

    if not records_dir.is_dir():
        fail(f"{records_dir}: no such records folder")
    typer.echo(compare_report(records_dir, a, b, dataset, suite, warn=lambda m: typer.echo(f"warning: {m}", err=True)))
