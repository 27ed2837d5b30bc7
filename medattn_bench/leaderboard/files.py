"""The board's files: the markdown, the forest plots beside it, the Grad-CAM figures ``cam`` drew,
and the page, each as (path, text) for the command to write or compare."""

from __future__ import annotations

from pathlib import Path

from ..analysis import SuiteAnalysis
from .board import render_analyses
from .findings import leads


def _rel_to(path: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def board_files(analyses: list[SuiteAnalysis], out: Path, html: Path | None, problems: list[str],
                check: bool) -> list[tuple[Path, str]]:
    """(path, text) of the markdown board at ``out`` ('-': stdout) and of the page at ``html``; the
    forest plots are written beside ``out`` unless ``check`` (then only the existing ones are linked)."""
    figures: dict[str, str] = {}
    if str(out) != "-":
        from ..figures import forest_plot

        for a in analyses:
            rel = Path("figures") / f"{a.name}-forest.svg"
            if check:
                if (out.parent / rel).exists():
                    figures[a.name] = str(rel)
            elif forest_plot(a, out.parent / rel):
                figures[a.name] = str(rel)
            if figures.get(a.name) and leads(a):
                figures[f"{a.name}/findings"] = figures[a.name]
            for ds in a.datasets:  # Grad-CAM figures written by `medattn-bench cam`
                cam_png = Path("figures") / f"{a.name}-{ds}-cam.png"
                if (out.parent / cam_png).is_file():
                    figures[f"{a.name}/{ds}"] = str(cam_png)
    outputs = [(out, render_analyses(analyses, problems, figures))]
    if html is not None:
        from ..page import render_page

        page_figs = {k: _rel_to(out.parent / v, html.parent) for k, v in figures.items()} if str(out) != "-" else {}
        outputs.append((html, render_page(analyses, page_figs, html.parent, _rel_to(out, html.parent), problems)))
    return outputs
