"""Commands that train or re-train: ``run``, ``status``, ``verify``, ``submit``, ``review``, ``cam``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import DataRootOpt, PluginOpt, _data_root, app, fail, load_plugins


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
    from ..outcome import dry_run_lines, landed_lines
    from ..runner import parse_only, plan, run_suite
    from ..suite import load_suite

    if records is not None and str(records).strip() in ("", "."):
        fail(f"--records {str(records)!r}: name a records folder (e.g. leaderboard/records/my-suite); the "
              "working directory itself would mix records with the project")
    if not dry_run:  # planning imports no model code (no torch, no plugin): a dry run answers at once
        load_plugins(plugin)
    s = load_suite(suite, set_ or [], check=not dry_run, plugins_given=bool(plugin))
    runs = plan(s, parse_only(only or []), records)
    if not runs:
        fail(f"--only {' '.join(only or [])}: no run of {suite} matches")
    if dry_run:
        for line in dry_run_lines(runs):
            typer.echo(line)
        return
    if executor not in (None, "local", "slurm"):
        fail(f"--executor {executor!r}: expected local or slurm")
    ex = s.executor.model_copy(update={k: v for k, v in dict(kind=executor, workers=workers,
                                                              runs_per_device=runs_per_device, partition=partition,
                                                              time_min=time_min, gpus=gpus, cpus=cpus,
                                                              mem_gb=mem_gb).items() if v is not None})
    if ex.kind == "slurm":
        from ..runner import submit_suite

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
    if counts["ok"]:
        for line in landed_lines(s, Path(records or s.records_dir()), runs):
            typer.echo(line)
    if s.splits and not counts["failed"] and not counts["left_alone"]:  # sequential: is another look due?
        nxt = [r for r in plan(s, parse_only(only or []), records) if r.status == "todo"] if counts["ok"] else []
        scope = " (within --only)" if only else ""
        typer.echo(f"Still to train{scope}: {len(nxt)} run(s), the next look of the comparisons still open on "
                   f"{', '.join(sorted({r.dataset.name for r in nxt}))}: run the same command again" if nxt else
                   f"Nothing left to train{scope}: every comparison has concluded or reached {s.splits.max} splits")
    if counts["failed"] or counts["left_alone"]:
        raise typer.Exit(1)  # a batch job must not look green when runs failed or were not run


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

    from ..executors.slurm import run_status
    from ..runner import plan
    from ..suite import load_suite

    if plugin:  # as for run --dry-run: the plan needs no model code unless a plugin is named
        load_plugins(plugin)
    s = load_suite(suite, set_ or [], check=False, plugins_given=bool(plugin))
    folder = Path(records or s.records_dir())
    rows = run_status(plan(s, records_dir=folder), folder)
    counts = Counter(state for _, state, _ in rows)
    shown = [[r.name, state, job] for r, state, job in rows if all_runs or state != "done"]
    if shown:
        typer.echo(tabulate(shown, ["run", "state", "slurm job"], tablefmt="simple"))
    typer.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f" ({len(rows)} runs)")


@app.command()
def verify(
    records: Annotated[list[Path], typer.Argument(help="Record files (.json) to re-train and compare.")],
    data_root: DataRootOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """Re-train the runs that records describe, from their stored config and arithmetic settings, on this
    machine, and decide: identical; consistent (other settings, |ΔAUC| within 3 sd of the variant's AUC
    over its folder's other runs); or not reproduced / not consistent / undecided (exit 1)."""
    from ..verify import verify_record

    load_plugins(plugin)
    bad = 0
    for path in records:
        if not path.is_file():
            fail(f"{path}: no such record file")
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
    from ..records.submission import bundle

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
    from ..review import review as run_review
    from ..records.submission import accept as accept_bundle

    if not (bundle_dir / "submission.json").is_file():
        fail(f"{bundle_dir}: no submission.json (make a bundle with: medattn-bench submit RECORDS --attention NAME --out DIR)")
    load_plugins(plugin)
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
    layer: Annotated[Optional[str], typer.Option("--layer", help="ResNet stage the maps are taken on: layer1-layer4 "
                                                 "(default: the suite's eval.cam.layer, layer4 as in the study; at 64 px "
                                                 "layer4 is a 2x2 map, layer3 4x4).")] = None,
) -> None:
    """The study's Grad-CAM figure: rows are variants, columns test images, P(true class) printed."""
    from ..camfig import cam_figure_for, select_runs
    from ..runner import plan
    from ..suite import load_suite

    if method not in ("gradcam", "gradcam++"):
        fail(f"--method {method!r}: expected gradcam or gradcam++")
    if layer is not None and layer not in ("layer1", "layer2", "layer3", "layer4"):
        fail(f"--layer {layer!r}: expected layer1, layer2, layer3 or layer4")
    load_plugins(plugin)
    s = load_suite(suite, set_ or [])
    runs = select_runs(plan(s, records_dir=records), dataset, seed)
    from ..errors import RecordError

    try:
        files, worst, grid = cam_figure_for(runs, data_root or s.data_root, n, method, out, s.name,
                                            layer or s.eval.cam.layer, note)
    except RecordError as exc:
        if "weights" not in str(exc) or "sha256" in str(exc):
            raise
        sets = "".join(f" --set '{x}'" for x in set_ or [])
        fail(f"{exc}. Weights are not committed (about 45 MB a run); re-train this split with its weights kept "
              f"into a folder of your own, then draw from there: medattn-bench run {suite} --only "
              f"dataset={dataset},seed={seed} --set 'eval.cam.keep_weights=[{seed}]'{sets} --records DIR && "
              f"medattn-bench cam {suite} --dataset {dataset} --seed {seed} --records DIR{sets}")
    typer.echo(f"wrote {', '.join(str(f) for f in files)} ({grid} maps on {layer or s.eval.cam.layer}); reloaded "
               f"weights reproduce the recorded scores (largest difference {worst:.2g})")
