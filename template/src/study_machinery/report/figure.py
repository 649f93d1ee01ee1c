"""The main result as a figure that stands alone: PNG for the README, PDF for a paper.

One panel per metric, the main one first, one row per variant: the mean with its 95%
confidence interval (kept inside the metric's declared range), every seed as a dot, and the
proposed method's mean as a dashed line. Each axis says which way is better. A variant far
from the others (a mean predictor, chance level) would squash the rest into a line: it is
drawn as an arrow at the axis's edge with its mean written beside it, and the caption names
it. The title, axis labels and the caption under the panels say what is plotted, so the
figure reads the same wherever it is pasted.
"""

import contextlib
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from study_machinery.core.study import METHOD, Better
from study_machinery.results.recorded import Recorded

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# A variant whose interval lies further from the others' span than this many spans is off the axis.
FAR = 2.0


def caption(seeds_vary: str, off_axis: list[str] | None = None) -> str:
    text = (
        "Circles: mean over the seeds; bars: 95% confidence interval of the mean (Student's t); "
        f"grey dots: single seeds; dashed line: the {METHOD} method's mean. The seeds vary {seeds_vary}."
    )
    if off_axis:
        text += (
            " Far from the others, so drawn as an arrow at the axis's edge with its mean: "
            + "; ".join(off_axis)
            + "."
        )
    return text


def extent(recorded: Recorded, variant: str, metric: str) -> tuple[float, float]:
    """What a variant's row spans: its interval (inside the metric's range) and its seeds."""
    stats, declared = recorded.summary[variant][metric], recorded.metric(metric)
    seeds = [float(run[metric]) for run in recorded.runs if run["variant"] == variant]
    low, high = declared.clip(stats["ci_low"]), declared.clip(stats["ci_high"])
    return min([low, *seeds]), max([high, *seeds])


def on_axis(recorded: Recorded, metric: str) -> tuple[tuple[float, float], list[str]]:
    """The span the axis shows, and the variants left off it.

    From the method outwards, nearest mean first: a variant joins the span unless the gap
    between it and the span is more than FAR times the span's width; then it and every variant
    further out are drawn at the edge instead.
    """
    summary = recorded.summary
    centre = summary[METHOD][metric]["mean"]
    low, high = extent(recorded, METHOD, metric)
    others = sorted(
        (v for v in summary if v != METHOD), key=lambda v: abs(summary[v][metric]["mean"] - centre)
    )
    for index, variant in enumerate(others):
        first, last = extent(recorded, variant, metric)
        # A span of zero width (every seed alike): measure the gap against the values' own scale.
        width = max(high - low, 1e-3 * max(abs(low), abs(high)), 1e-12)
        if max(low - last, first - high) > FAR * width:
            return (low, high), others[index:]
        low, high = min(low, first), max(high, last)
    return (low, high), []


def draw(recorded: Recorded, seeds_vary: str) -> "Figure":
    # Imported here: matplotlib takes a second to import and only this stage draws.
    from matplotlib.figure import Figure

    metrics, variants = recorded.metrics, list(recorded.summary)
    width = 1.8 + 3.2 * len(metrics)
    figure = Figure(figsize=(width, 1.9 + 0.3 * len(variants)), layout="constrained")
    axes = figure.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    rows = {variant: len(variants) - 1 - index for index, variant in enumerate(variants)}
    off_axis = []
    for ax, metric in zip(axes, metrics, strict=True):
        (low, high), far = on_axis(recorded, metric)
        margin = 0.08 * max(high - low, 1e-3 * max(abs(low), abs(high)), 1e-12)
        ax.set_xlim(low - margin, high + margin)
        for variant, row in rows.items():
            stats = recorded.summary[variant][metric]
            if variant in far:
                _at_edge(ax, row, stats["mean"], low - margin if stats["mean"] < low else high + margin)
                off_axis.append(f"{variant} in {metric}, {stats['mean']:.4g}")
                continue
            _row(ax, recorded, variant, metric, row)
        ax.axvline(recorded.summary[METHOD][metric]["mean"], color="C0", linestyle="--", linewidth=0.8)
        ax.set_xlabel(_label(recorded, metric))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(list(rows.values()), list(rows))
    axes[0].set_ylabel("variant")
    figure.suptitle(
        f"Scores per variant: {' and '.join(metrics)} ({recorded.tier} tier, n={recorded.seeds} seeds)"
    )
    # About 17 characters of 8-point text per inch of figure width.
    figure.supxlabel(textwrap.fill(caption(seeds_vary, off_axis), int(width * 17)), fontsize=8)
    return figure


def _label(recorded: Recorded, metric: str) -> str:
    """The axis's name, which way is better, with the arrow pointing there, and whether secondary."""
    higher = recorded.metric(metric).better is Better.higher
    label = f"{metric} (higher is better →)" if higher else f"{metric} (← lower is better)"
    return f"{label}, secondary" if recorded.secondary(metric) else label


def _row(ax: "Axes", recorded: Recorded, variant: str, metric: str, row: int) -> None:
    """A variant's seeds as dots and its mean with its interval, kept inside the metric's range."""
    stats, declared = recorded.summary[variant][metric], recorded.metric(metric)
    seeds = [float(run[metric]) for run in recorded.runs if run["variant"] == variant]
    # Spread vertically, so that seeds with equal scores stay visible as separate dots.
    offsets = [0.25 * (index / max(len(seeds) - 1, 1) - 0.5) for index in range(len(seeds))]
    ax.scatter(seeds, [row + offset for offset in offsets], s=9, color="0.6", zorder=3)
    low, high = declared.clip(stats["ci_low"]), declared.clip(stats["ci_high"])
    ax.errorbar(
        stats["mean"],
        row,
        xerr=[[stats["mean"] - low], [high - stats["mean"]]],
        fmt="o",
        color="C0" if variant == METHOD else "black",
        capsize=3,
        zorder=2,
    )


def _at_edge(ax: "Axes", row: int, mean: float, edge: float) -> None:
    """A variant off the axis: an arrow at the edge it lies beyond, and its mean beside it."""
    left = mean < edge
    ax.annotate(
        f"{mean:.4g}",
        xy=(edge, row),
        xytext=(12 if left else -12, 0),
        textcoords="offset points",
        ha="left" if left else "right",
        va="center",
        fontsize=8,
        arrowprops={"arrowstyle": "->", "color": "black"},
        annotation_clip=False,
    )


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
