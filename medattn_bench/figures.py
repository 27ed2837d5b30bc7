"""Figures of an analysis (matplotlib, Agg): the forest plot of each suite's decisive ΔAUC."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from .analysis import SuiteAnalysis


def forest_plot(a: SuiteAnalysis, path: Path) -> Path | None:
    """Each variant's decisive ΔAUC with its CI, one row per data set and variant, the equivalence
    band ± margin shaded, and the paper's reported Δ marked (×) on the same axis where the suite
    carries it. SVG with fixed metadata and hash salt, so the same analysis gives the same file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(d, r) for d in sorted(a.datasets) for r in a.datasets[d].comparisons.values() if r.decisive is not None]
    if not rows:
        return None
    reported = {(c.dataset, c.variant): c.reported_delta for c in a.claims}
    plt.rcParams["svg.hashsalt"] = "medattn-bench"
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    m = a.settings.margin
    ax.axvspan(-m, m, color="0.9", lw=0)
    colors = {"better": "tab:green", "worse": "tab:red", "equivalent": "tab:blue"}
    for yi, (ds, r) in zip(y, rows):
        c = r.decisive
        ax.errorbar(100 * c.delta, yi, xerr=[[100 * (c.delta - c.ci_lo)], [100 * (c.ci_hi - c.delta)]], fmt="o",
                    color=colors.get(r.outcome, "0.2"), capsize=3)
        if (ds, r.variant) in reported:
            ax.plot(reported[(ds, r.variant)], yi, marker="x", color="tab:orange", ms=8, mew=2, ls="none")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, [f"{ds}: {r.variant}" for ds, r in rows])
    level = int(round(100 * a.settings.ci_level))
    ax.set_xlabel(f"ΔAUC vs {a.baseline} (points), {level} % CI; grey: ± {m:g} (equivalence margin)"
                  + ("; ×: the paper's reported Δ" if reported else ""), fontsize=8)
    ax.set_title(f"{a.name}: verdict per data set (green better, red worse, blue equivalent, black inconclusive)",
                 fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": "medattn-bench"})
    plt.close(fig)
    return path


def cell_label(prob: float, cam: np.ndarray) -> str:
    """A cell's corner label: P(true class), and "CAM 0" where Grad-CAM is zero everywhere (the
    cell then has no overlay, so it does not pass for a map that is cold everywhere)."""
    return f"{prob:.2f}" + (" · CAM 0" if cam.max() <= 0 else "")


def cam_figure(rows: list[tuple[str, list[tuple[np.ndarray, np.ndarray, float]]]], titles: list[str], path: Path,
               suptitle: str, masks: list[np.ndarray | None] | None = None) -> list[Path]:
    """The study's figure: one row per variant, one column per test image, each cell the image with
    its heat map (per-image normalised, a perceptually uniform colour map at a transparency that
    leaves the image visible, one colour bar) and the probability of the true class; a lesion
    outline where ``masks`` has one for the column. PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), len(titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols + 0.8, 1.6 * n_rows + 0.6), squeeze=False,
                             layout="constrained")
    shown, blank = None, False
    for r, (variant, cells) in enumerate(rows):
        for c, (image, cam, prob) in enumerate(cells):
            ax = axes[r][c]
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            peak = cam.max()
            if peak > 0:
                shown = ax.imshow(cam / peak, cmap="inferno", alpha=0.4, vmin=0, vmax=1)
            else:
                # no positive evidence for the class anywhere: a map divided by its peak is undefined, and a
                # uniform dark tint would read as "heat 0 here" against the other cells' scale
                blank = True
            mask = masks[c] if masks else None
            if mask is not None and mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
            ax.text(0.03, 0.97, cell_label(prob, cam), transform=ax.transAxes, va="top", ha="left", fontsize=8,
                    color="white", bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "lw": 0})
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(variant, fontsize=9)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.01)
        bar.set_label("Grad-CAM / its peak in the image" + (" (cyan: lesion outline)" if masks and
                                                               any(m is not None and m.any() for m in masks) else "")
                      + ("; CAM 0: no positive evidence for the class anywhere, no overlay" if blank else ""),
                      fontsize=7)
        bar.ax.tick_params(labelsize=6)
    # wrapped to the figure's width (about 14 characters an inch at 9 pt): a long note stays whole
    width = int(14 * fig.get_figwidth())
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in suptitle.split("\n")), fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in (".png", ".pdf"):
        target = path.with_suffix(suffix)
        fig.savefig(target, dpi=130, metadata={"Software": "medattn-bench"} if suffix == ".png" else
                    {"Creator": "medattn-bench", "CreationDate": None})
        out.append(target)
    plt.close(fig)
    return out
