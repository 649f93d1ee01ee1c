"""The main result as tables: Markdown for the README, LaTeX (booktabs) for a paper.

Each table carries its caption: what the numbers are, over how many seeds,
what the seeds vary, and what the intervals mean, so it can be read alone.
"""

from collections.abc import Callable

from study_machinery.core import paths
from study_machinery.core.study import METHOD
from study_machinery.report.latex import escape
from study_machinery.results.recorded import Recorded
from study_machinery.search.settings import how_chosen, unequal_budgets


def score(value: float) -> str:
    return f"{value:.4f}"


def p_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.2g}"


def directions(recorded: Recorded) -> str:
    """What the arrows mean and which metric is the main one, for every caption."""
    secondary = [metric for metric in recorded.metrics if recorded.secondary(metric)]
    text = f"↑: higher is better; ↓: lower is better. The main metric is {recorded.metrics[0]}"
    if not secondary:
        return text + "."
    return text + f"; {' and '.join(secondary)} {'is' if len(secondary) == 1 else 'are'} secondary."


def header(recorded: Recorded, metric: str) -> str:
    """A metric's column: its name, which way is better, and whether it is secondary."""
    label = f"{metric} {recorded.metric(metric).arrow}"
    return f"{label} (secondary)" if recorded.secondary(metric) else label


def left_out(recorded: Recorded) -> str:
    """The runs left out by a recorded decision, for every caption; empty when none."""
    excluded = recorded.study.left_out(recorded.tier)
    if not excluded:
        return ""
    return (
        f" Left out by a decision recorded in conf/study.yaml ({len(excluded)} "
        f"run{'s' if len(excluded) > 1 else ''}): {'; '.join(map(str, excluded))}."
    )


def results_caption(recorded: Recorded, seeds_vary: str) -> str:
    return (
        f"Mean ± sample standard deviation (ddof=1) over n={recorded.seeds} seeds, and the 95% "
        f"confidence interval of the mean (Student's t). {directions(recorded)} "
        f"The seeds vary {seeds_vary}.{left_out(recorded)} {how_chosen(recorded.study, recorded.tier)}"
    )


def families(recorded: Recorded) -> str:
    """How many comparisons each of Holm's families holds: the main metric's, the secondary ones'."""
    others = len(recorded.comparisons)
    main = f"the {others} comparisons of the main metric, {recorded.metrics[0]}"
    secondary = others * (len(recorded.metrics) - 1)
    return main + (f", and the {secondary} of the secondary metrics apart" if secondary else "")


def differences_caption(recorded: Recorded) -> str:
    return (
        f"Mean difference from the {METHOD} method (variant minus {METHOD}) over the seeds both "
        f"have (n={recorded.seeds}), paired by seed since a seed gives every variant the same "
        "train/test split: its 95% confidence interval, and the two-sided p-value of the paired t-test "
        f"adjusted by Holm's method within its family: {families(recorded)} (the unadjusted "
        f"p-values, and Welch's unpaired test, are in comparisons.json). {directions(recorded)} The "
        f"verdict is the variant's against {METHOD}: better or worse where the interval excludes 0, "
        "read in the metric's direction; no clear difference where it contains 0, which means no "
        f"difference was detected at this n, not that there is none. The intervals are not adjusted."
        f"{left_out(recorded)}{unequal_budgets(recorded.study, recorded.tier)}"
    )


def compute_sentence(recorded: Recorded) -> str:
    compute = recorded.compute
    return (
        f"Compute: {compute['runs']} runs, {compute['cpu_hours']:g} CPU hours and "
        f"{compute['gpu_hours']:g} GPU hours, about {compute['energy_kwh']:g} kWh and "
        f"{compute['co2e_kg']:g} kg CO2e under the assumptions in conf/study.yaml."
    )


def _result_rows(recorded: Recorded, plus_minus: str, text: Callable[[str], str]) -> list[list[str]]:
    """Per variant: its name, then per metric `mean ± std` and `[low, high]`."""
    return [
        [
            text(variant),
            *(
                cell
                for stats in (by_metric[metric] for metric in recorded.metrics)
                for cell in (
                    f"{score(stats['mean'])} {plus_minus} {score(stats['std'])}",
                    f"[{score(stats['ci_low'])}, {score(stats['ci_high'])}]",
                )
            ),
        ]
        for variant, by_metric in recorded.summary.items()
    ]


def _difference_rows(
    recorded: Recorded, number: Callable[[float | None], str], text: Callable[[str], str]
) -> list[list[str]]:
    """Per other variant: its name, then per metric the paired `difference [low, high]`, Holm's p
    and the verdict in the metric's direction."""
    return [
        [
            text(variant),
            *(
                cell
                for metric, diff in ((metric, by_metric[metric]["paired"]) for metric in recorded.metrics)
                for cell in (
                    f"{number(diff['difference'])} [{number(diff['ci_low'])}, {number(diff['ci_high'])}]",
                    text(p_value(diff["p_holm"])),
                    recorded.metric(metric).verdict(diff["ci_low"], diff["ci_high"]),
                )
            ),
        ]
        for variant, by_metric in recorded.comparisons.items()
    ]


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def markdown(recorded: Recorded, seeds_vary: str) -> str:
    """Both tables with their captions, and the compute behind them."""
    metrics = recorded.metrics
    results = markdown_table(
        ["variant", *(cell for metric in metrics for cell in (header(recorded, metric), "95% CI"))],
        _result_rows(recorded, "±", str),
    )
    differences = markdown_table(
        [
            f"vs. {METHOD}",
            *(
                cell
                for metric in metrics
                for cell in (f"Δ {header(recorded, metric)} [95% CI]", "p (Holm)", "verdict")
            ),
        ],
        _difference_rows(recorded, lambda value: f"{value:+.4f}", str),
    )
    lines = [
        *results,
        "",
        results_caption(recorded, seeds_vary),
        "",
        *differences,
        "",
        differences_caption(recorded),
        "",
        f"{compute_sentence(recorded)} Recorded in `{recorded.shown('')}` by `uvx nox -s record`.",
    ]
    return "\n".join(lines) + "\n"


def latex_table(label: str, caption: str, header: list[str], rows: list[list[str]], source: str) -> str:
    """A booktabs `table` float no wider than the text (it needs booktabs and graphicx)."""
    return "\n".join(
        [
            f"% Generated from {source} by the report stage (dvc.yaml); edits here are overwritten.",
            r"\begin{table}[t]",
            r"  \centering",
            r"  \caption{" + escape(caption) + "}",
            r"  \label{" + label + "}",
            # Shrunk to the text width when wider, never enlarged.
            r"  \resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}"
            + r"{\begin{tabular}{l"
            + "r" * (len(header) - 1)
            + "}",
            r"    \toprule",
            "    " + " & ".join(header) + r" \\",
            r"    \midrule",
            *("    " + " & ".join(row) + r" \\" for row in rows),
            r"    \bottomrule",
            r"  \end{tabular}}",
            r"\end{table}",
            "",
        ]
    )


def latex_results(recorded: Recorded, seeds_vary: str) -> str:
    """The per-variant table, label tab:results."""
    columns = [
        "Variant",
        *(cell for metric in recorded.metrics for cell in (escape(header(recorded, metric)), r"95\% CI")),
    ]
    caption = f"{results_caption(recorded, seeds_vary)} {compute_sentence(recorded)}"
    rows = _result_rows(recorded, r"$\pm$", escape)
    return latex_table("tab:results", caption, columns, rows, recorded.shown(paths.SUMMARY))


def latex_differences(recorded: Recorded) -> str:
    """Each baseline and ablation against the method, label tab:differences."""
    columns = [
        rf"vs.\ {escape(METHOD)}",
        *(
            cell
            for metric in recorded.metrics
            for cell in (rf"$\Delta$ {escape(header(recorded, metric))} [95\% CI]", "$p$ (Holm)", "Verdict")
        ),
    ]
    rows = _difference_rows(recorded, lambda value: f"${value:+.4f}$", escape)
    source = recorded.shown(paths.COMPARISONS)
    return latex_table("tab:differences", differences_caption(recorded), columns, rows, source)
