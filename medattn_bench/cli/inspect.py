"""Commands that inspect: ``list``, ``profile``, ``plugin check``, ``data info|audit|download``,
``records migrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import DataRootOpt, PluginOpt, app, data_app, fail, list_app, load_plugins, plugin_app, records_app, records_folder, warn


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

        from ..names import BUILTIN_ATTENTION_INFO, entry_point_origins

        rows = [[n, "built-in", paper, placement] for n, (paper, placement) in BUILTIN_ATTENTION_INFO.items()]
        rows += [[n, f"{origin} (plugin)", "(not loaded: --params loads it)", ""]
                 for n, origin in entry_point_origins().items() if n not in BUILTIN_ATTENTION_INFO]
        rows = sorted(r for r in rows if fnmatch(r[0], pattern))
        if not rows:
            fail(f"no attention block matches {pattern!r}; available: {', '.join(sorted(BUILTIN_ATTENTION_INFO))}")
        typer.echo(tabulate(rows, ["name", "origin", "paper", "placement"], tablefmt="simple", disable_numparse=True))
        return

    from ..cost import attention_table

    load_plugins(plugin)
    headers, rows = attention_table(pattern, cost)
    if not rows:
        from ..attention import ATTENTION

        fail(f"no attention block matches {pattern!r}; available: {', '.join(ATTENTION.names())}")
    typer.echo(tabulate(rows, headers, tablefmt="simple", disable_numparse=True))


@list_app.command("datasets")
def list_datasets(pattern: Annotated[str, typer.Argument(help="fnmatch pattern.")] = "*") -> None:
    """Registered data sets and their options."""
    from fnmatch import fnmatch

    from tabulate import tabulate

    from ..names import BUILTIN_DATASET_INFO

    rows = [[n, d, ", ".join(o)] for n, (d, o) in BUILTIN_DATASET_INFO.items() if fnmatch(n, pattern)]
    if not rows:
        fail(f"no data set matches {pattern!r}; available: {', '.join(BUILTIN_DATASET_INFO)}")
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
    from ..cost import profile_lines
    from ..engine import resolve_device

    if recost is not None:
        from ..recost import recost as remeasure

        load_plugins(plugin)
        typer.echo(remeasure(recost, records, set_ or [], repeats, log=typer.echo, warn=warn))
        return

    for name, value, valid in (("--device", device, ("auto", "cpu", "cuda")), ("--precision", precision, ("auto", "bf16", "fp32"))):
        if value not in valid:
            fail(f"{name} {value!r}: expected one of {', '.join(valid)}")
    load_plugins(plugin)
    from ..attention import ATTENTION

    if ATTENTION.entry(attention).origin != "built-in":  # a plugin is profiled only if it keeps the contract
        from ..contract import check_block

        report = check_block(attention)
        if not report.ok:
            fail(f"--attention {attention}: plugin block ({ATTENTION.entry(attention).origin}) breaks the block "
                  f"contract: {'; '.join(report.failures)} (details: medattn-bench plugin check {attention})")
    dev = resolve_device(device, precision, image_size=size, batch_size=batch)
    for line in profile_lines(attention, size, batch, dev, repeats):
        typer.echo(line)


@plugin_app.command("check")
def plugin_check(
    name: Annotated[str, typer.Argument(help="Registered attention block name.")],
    plugin: PluginOpt = None,
    size: Annotated[int, typer.Option("--size", min=32, help="Image side for the MACs overhead.")] = 224,
) -> None:
    """Check the block contract and print the block's params and MACs overhead on ResNet-18."""
    from ..contract import check_block, describe
    from ..cost import static_cost

    load_plugins(plugin)
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


@data_app.command("info")
def data_info(target: Annotated[str, typer.Argument(help="A data set name (skin, cxr, mri, ct) or a folder.")],
              data_root: DataRootOpt = None) -> None:
    """Counts per class and source split, subclasses, image modes and size range (headers only)."""
    from ..data.inspect import info_lines

    for line in info_lines(target, data_root):
        typer.echo(line)


@data_app.command("audit")
def data_audit(target: Annotated[str, typer.Argument(help="A data set name (skin, cxr, mri, ct) or a folder.")],
               data_root: DataRootOpt = None,
               threshold: Annotated[int, typer.Option("--threshold", min=0, max=64, help="dHash Hamming threshold (of 256 bits).")] = 8,
               show: Annotated[int, typer.Option("--show", min=0, help="How many groups to list.")] = 20) -> None:
    """Exact and near-duplicate groups; which cross labels or the official split."""
    from ..data.inspect import audit_lines

    for line in audit_lines(target, data_root, threshold, show):
        typer.echo(line)


@data_app.command("download")
def data_download(
    name: Annotated[str, typer.Argument(help="skin, cxr, mri, ct, pneumoniamnist or dermamnist.")],
    to: Annotated[Path, typer.Option("--to", help="Folder to install into (the data root).")],
    url: Annotated[Optional[str], typer.Option("--url", help="A mirror to fetch from instead of the public source.")] = None,
    sha256: Annotated[Optional[str], typer.Option("--sha256", help="Expected sha256 of the download.")] = None,
    md5: Annotated[Optional[str], typer.Option("--md5", help="Expected md5 of the download.")] = None,
) -> None:
    """Download a data set from its public source, verify it and install it atomically."""
    from ..data.download import download

    path = download(name, to, url, sha256, md5, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"installed {path}")


@records_app.command("migrate")
def records_migrate(records_dir: Annotated[Path, typer.Argument(help="Folder of run records (searched recursively).")]) -> None:
    """Rewrite schema-1 records as schema 2 (typed records; suite settings moved to suite.json)."""
    from ..records.migrate import migrate_folder

    records_folder(records_dir)
    done, skipped, n_suites = migrate_folder(records_dir, warn)
    typer.echo(f"migrated {done} record(s) to schema 2, {skipped} skipped; {n_suites} suite.json written")
