"""The main result as a figure that stands alone: PNG for the README, PDF for a paper.

One panel per metric, one row per variant: the mean with its 95% confidence
interval, every seed as a dot, and the proposed method's mean as a dashed
line. The title, axis labels and the caption under the panels say what is
plotted, so the figure reads the same wherever it is pasted.
"""

import contextlib
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .results import Recorded
from .study import METHOD

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def caption(seeds_vary: str) -> str:
    return (
        "Circles: mean over the seeds; bars: 95% confidence interval of the mean (Student's t); "
        f"grey dots: single seeds; dashed line: the {METHOD} method's mean. The seeds vary {seeds_vary}."
    )


def draw(recorded: Recorded, seeds_vary: str) -> "Figure":
    # Imported here: matplotlib takes a second to import and only this stage draws.
    from matplotlib.figure import Figure

    metrics, variants = recorded.metrics, list(recorded.summary)
    width = 1.8 + 3.2 * len(metrics)
    figure = Figure(figsize=(width, 1.9 + 0.3 * len(variants)), layout="constrained")
    axes = figure.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    rows = {variant: len(variants) - 1 - index for index, variant in enumerate(variants)}
    for ax, metric in zip(axes, metrics, strict=True):
        for variant, row in rows.items():
            stats = recorded.summary[variant][metric]
            seeds = [float(run[metric]) for run in recorded.runs if run["variant"] == variant]
            # Spread vertically, so that seeds with equal scores stay visible as separate dots.
            offsets = [0.25 * (index / max(len(seeds) - 1, 1) - 0.5) for index in range(len(seeds))]
            ax.scatter(seeds, [row + offset for offset in offsets], s=9, color="0.6", zorder=3)
            ax.errorbar(
                stats["mean"],
                row,
                xerr=[[stats["mean"] - stats["ci_low"]], [stats["ci_high"] - stats["mean"]]],
                fmt="o",
                color="C0" if variant == METHOD else "black",
                capsize=3,
                zorder=2,
            )
        ax.axvline(recorded.summary[METHOD][metric]["mean"], color="C0", linestyle="--", linewidth=0.8)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(rows.values()), list(rows))
    axes[0].set_ylabel("variant")
    figure.suptitle(
        f"Scores per variant: {' and '.join(metrics)} ({recorded.tier} tier, n={recorded.seeds} seeds)"
    )
    # About 17 characters of 8-point text per inch of figure width.
    figure.supxlabel(textwrap.fill(caption(seeds_vary), int(width * 17)), fontsize=8)
    return figure


@contextlib.contextmanager
def style() -> Iterator[None]:
    """matplotlib's defaults, not the local matplotlibrc: a figure looks the same on every machine."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def save(figure: "Figure", folder: Path, name: str) -> None:
    """NAME.png and NAME.pdf, without the dates and versions that would change their bytes."""
    figure.savefig(folder / f"{name}.png", dpi=200, metadata={"Software": None})
    figure.savefig(folder / f"{name}.pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None})
