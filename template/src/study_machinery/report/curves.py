"""The learning curves as a figure: one column per split (train beside test), one row per
quantity (loss, accuracy), one line per variant with its band, kept inside the quantity's range
(a metric's declared range, or conf/study.yaml's curves.ranges), over what the research code
counts (curves.x: epochs, boosting rounds...). Variants whose runs report no epochs (k-NN,
logistic regression) are left out, and the caption names them. The table it draws is
results/<tier>/curves.csv (results/curves.py).
"""

import textwrap
from typing import TYPE_CHECKING

from study_machinery.core import epochs
from study_machinery.core.study import METHOD, clip

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from study_machinery.results.recorded import Recorded


def caption(seeds_vary: str, left_out: list[str], fewer: bool = False, x: str = "epoch") -> str:
    text = (
        f"Lines: the mean over the seeds at each {x}; bands: the 95% confidence interval of that "
        f"mean (Student's t), inside the values the score can take. Each column is the split the runs "
        f"scored after every {x}. The seeds vary {seeds_vary}."
    )
    if fewer:
        text += f" At some {x}s fewer seeds have a score (not reached, or not finite): curves.csv gives n."
    if left_out:
        text += f" Not shown, as they report no {x}s: {', '.join(left_out)}."
    return text


def draw(recorded: "Recorded", seeds_vary: str) -> "Figure":
    # Imported here: matplotlib takes a second to import and only the report stage draws.
    from matplotlib.figure import Figure

    curves, variants, x = recorded.curves, list(recorded.summary), recorded.study.curves.x
    shown = [variant for variant in variants if any(row["variant"] == variant for row in curves)]
    left_out = [variant for variant in variants if variant not in shown]
    panels = {epochs.split_of(row["score"]) for row in curves}
    order = [*epochs.SPLITS, ""]
    splits = sorted({split for split, _ in panels}, key=order.index)
    quantities = sorted({quantity for _, quantity in panels})
    width = 2.6 + 3.2 * max(len(splits), 1)
    figure = Figure(figsize=(width, 1.2 + 2.4 * max(len(quantities), 1)), layout="constrained")
    if not curves:
        figure.text(0.5, 0.5, f"No variant reports per-{x} scores.", ha="center", va="center")
    else:
        axes = figure.subplots(len(quantities), len(splits), sharex=True, sharey="row", squeeze=False)
        for row, quantity in enumerate(quantities):
            for column, split in enumerate(splits):
                score = f"{split}_{quantity}" if split else quantity
                _panel(axes[row][column], curves, shown, score, recorded.study.bounds(quantity))
                if row == 0:
                    axes[row][column].set_title(split or "score")
            axes[row][0].set_ylabel(_label(recorded, quantity))
        for ax in axes[-1]:
            ax.set_xlabel(x)
        # Every variant once, whichever panels it is drawn in.
        handles = {
            label: handle
            for ax in axes.flat
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)
        }
        figure.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=8)
    figure.suptitle(f"Learning curves per variant ({recorded.tier} tier, n={recorded.seeds} seeds)")
    # About 17 characters of 8-point text per inch of figure width.
    fewer = len({row["n"] for row in curves}) > 1
    figure.supxlabel(textwrap.fill(caption(seeds_vary, left_out, fewer, x), int(width * 17)), fontsize=8)
    return figure


def _label(recorded: "Recorded", quantity: str) -> str:
    """A quantity's axis name; for a declared metric, which way is better."""
    if quantity not in recorded.study.metrics:
        return quantity
    return f"{quantity} ({recorded.metric(quantity).better.value} is better)"


def _panel(
    ax: "Axes", curves: list[dict], variants: list[str], score: str, bounds: list[float | None]
) -> None:
    """One score's curves: a line and a band per variant, in the same colour in every panel."""
    for index, variant in enumerate(variants):
        points = [row for row in curves if row["variant"] == variant and row["score"] == score]
        if not points:
            continue
        epoch = [row["epoch"] for row in points]
        # The method on top of the others, and thicker: an ablation that changes little hides under it.
        colour = f"C{index}"
        width, order = (2.0, 3) if variant == METHOD else (1.0, 2)
        ax.plot(
            epoch, [row["mean"] for row in points], color=colour, linewidth=width, zorder=order, label=variant
        )
        low = [clip(row["ci_low"], bounds) for row in points]
        high = [clip(row["ci_high"], bounds) for row in points]
        ax.fill_between(epoch, low, high, color=colour, alpha=0.2, linewidth=0)
    ax.grid(alpha=0.3)
