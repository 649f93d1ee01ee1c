"""The figure of a tier's search, results/TIER/search.png and .pdf, from its ledgers (search/ledger.py).

One panel per tuned variant, trials along the x-axis in the order they were proposed: each
trial's mean validation score over its seeds (a dot) with its seeds' range (a vertical line),
and the best mean so far as a step line, ending at the trial chosen (ringed). Panels share the
y-axis, so budgets and their outcomes compare at a glance; the title and the caption say what is
plotted, which way is better and on which split, so the figure stands alone.
"""

import json
import textwrap
from pathlib import Path
from typing import Any

from study_machinery.core import paths
from study_machinery.core.study import METHOD
from study_machinery.report.figure import save, style


def ledgers(tier: str) -> list[dict[str, Any]]:
    """The tier's ledgers, the method first (as the variants are ordered everywhere)."""
    folder = paths.results_dir(tier) / paths.SEARCH
    found = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.rglob("*.json"))]
    return sorted(found, key=lambda ledger: (ledger["variant"] != METHOD, ledger["variant"]))


def caption(found: list[dict[str, Any]]) -> str:
    first = found[0]
    seeds = ", ".join(map(str, first["seeds"]))
    pruning = first["pruning"]
    pruned = f" Crosses: trials the pruner stopped ({pruning}), at their seeds' mean." if pruning else ""
    unequal = [f"{item['variant']} ({item['unequal_budget']})" for item in found if item["unequal_budget"]]
    return (
        f"Dots: a trial's mean validation {first['metric']} over seeds {seeds}; lines: the range of its "
        f"seeds; steps: the best mean so far; ring: the trial chosen.{pruned} {first['sampler']} (seed "
        f"{first['sampler_seed']}), {first['batch']} trials proposed at a time; the validation split is "
        "carved from the training data, the test split is never read."
        + (f" Unequal budgets, declared: {'; '.join(unequal)}." if unequal else "")
    )


def write_search_figure(tier: str) -> Path | None:
    """Draw the tier's search; None where it has no ledger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = ledgers(tier)
    if not found:
        return None
    first = found[0]
    higher = first["better"] == "higher"
    with style():
        figure, axes = plt.subplots(
            1, len(found), figsize=(3.2 * len(found) + 0.8, 3.6), sharey=True, squeeze=False
        )
        for ax, ledger in zip(axes[0], found, strict=True):
            _panel(ax, ledger, higher)
        axes[0][0].set_ylabel(f"validation {first['metric']} ({'higher' if higher else 'lower'} is better)")
        figure.suptitle(f"Hyperparameter search at tier {tier}: each tuned variant, its budget above it")
        figure.text(0.01, 0.01, "\n".join(textwrap.wrap(caption(found), 150)), fontsize=7, va="bottom")
        figure.tight_layout(rect=(0, 0.1, 1, 0.95))
        folder = paths.results_dir(tier)
        save(figure, folder, paths.SEARCH_FIGURE)
        plt.close(figure)
    return folder / f"{paths.SEARCH_FIGURE}.png"


def _panel(ax: Any, ledger: dict[str, Any], higher: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    xs, means, lows, highs = [], [], [], []
    for row in ledger["trials"]:
        scores = [score for score in row["scores"].values() if score is not None]
        if row["state"] == "pruned" and scores:
            ax.plot([row["trial"] + 1], [sum(scores) / len(scores)], "x", color="0.5", markersize=5)
        if row["score"] is None or not scores:
            continue
        xs.append(row["trial"] + 1)
        means.append(row["score"])
        lows.append(min(scores))
        highs.append(max(scores))
    ax.vlines(xs, lows, highs, color="0.7", linewidth=1)
    ax.plot(xs, means, "o", color="C0", markersize=4)
    best, so_far = None, []
    for mean in means:
        best = mean if best is None or (mean > best if higher else mean < best) else best
        so_far.append(best)
    ax.step(xs, so_far, where="post", color="C1", linewidth=1.5)
    chosen = ledger["chosen"]
    ax.plot([chosen["trial"] + 1], [chosen["score"]], "o", markersize=10, fillstyle="none", color="C3")
    budget = f"{ledger['budget']} trials" + (" (unequal: see caption)" if ledger["unequal_budget"] else "")
    ax.set_title(f"{ledger['variant']}\n{budget}", fontsize=9)
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
