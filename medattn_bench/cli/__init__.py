"""The ``medattn-bench`` command: thin commands that parse, call one library function and print.
:mod:`.app` (the apps and shared options), :mod:`.runs` (run, status, verify, submit, review,
cam), :mod:`.board` (leaderboard, export, compare), :mod:`.inspect` (list, profile, plugin
check, data, records migrate)."""

from __future__ import annotations

import sys

import typer

from ..errors import MedattnError
from . import runs, board, inspect  # noqa: F401, I001  (each registers its commands on app, in this order)
from .app import app


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
