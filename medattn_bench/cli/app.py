"""The command's Typer apps, the options several commands share, and how a command fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Benchmark attention blocks in ResNet-18 on medical images.", add_completion=False,
                  rich_markup_mode=None, context_settings={"max_content_width": 120},
                  no_args_is_help=True, pretty_exceptions_enable=False)
list_app = typer.Typer(help="List registered attention blocks or data sets.", no_args_is_help=True)
plugin_app = typer.Typer(help="Check attention-block plugins.", no_args_is_help=True)
data_app = typer.Typer(help="Inspect, audit and download data sets.", no_args_is_help=True)
records_app = typer.Typer(help="Maintain run records.", no_args_is_help=True)
app.add_typer(list_app, name="list")
app.add_typer(plugin_app, name="plugin")
app.add_typer(data_app, name="data")
app.add_typer(records_app, name="records")


def fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def warn(msg: str) -> None:
    typer.echo(f"warning: {msg}", err=True)


def _data_root(value: str | None) -> str | None:
    """--data-root must name a folder that exists (else every real data set would be 'missing')."""
    if value is not None and not Path(value).expanduser().is_dir():
        fail(f"--data-root {value}: no such folder; give the folder that holds skin/, cxr/, mri/ and ct/ "
             "(medattn-bench data download NAME --to DIR makes one)")
    return value


PluginOpt = Annotated[Optional[list[str]], typer.Option("--plugin", help="Import this module for its attention blocks (repeatable).")]
DataRootOpt = Annotated[Optional[str], typer.Option("--data-root", callback=_data_root,
                                                     help="Folder holding the data sets (else $MEDATTN_DATA).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="The overrides the suite was run with.")]
RecordsOpt = Annotated[Optional[Path], typer.Option("--records", help="Records folder (default: the suite's).")]


def load_plugins(modules: list[str] | None) -> None:
    from ..plugins import discover_entry_points, load_plugins as load

    for line in discover_entry_points():
        warn(line)
    load(modules or [])


def records_folder(records_dir: Path) -> None:
    if not records_dir.is_dir():
        fail(f"{records_dir}: no such records folder")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"medattn-bench {version('medattn-bench')}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Benchmark attention blocks in ResNet-18 on medical images."""
