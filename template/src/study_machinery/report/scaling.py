"""Does it scale? Each baseline's and ablation's difference from the method at every scale.

Once two or more tiers beyond smoke are recorded (the smoke tier checks that everything runs;
its scores are not meant to be good), results/scaling/ holds a table (table.md for the README,
table.tex for a paper) and a figure (figure.png, figure.pdf): at each tier, in conf/study.yaml's
order, the paired difference from the method in the main metric with its 95% confidence
interval and its verdict, as that tier's comparisons.json records it. It spans tiers, which
the pipeline's stages do not, so `python -m study_machinery readme` writes it (what `nox -s
record` runs after `dvc repro`), and the README's results section shows it; with fewer tiers
recorded, the folder is removed.
"""

import shutil
import textwrap
from typing import TYPE_CHECKING

from study_machinery.core import paths
from study_machinery.core.study import METHOD, StudyConfig
from study_machinery.report import figure as results_figure
from study_machinery.report.latex import escape
from study_machinery.report.tables import latex_table, markdown_table
from study_machinery.results.recorded import Recorded, load

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SMOKE = "smoke"


def recorded_tiers(study: StudyConfig) -> list[Recorded]:
    """The tiers beyond smoke whose result is recorded, in conf/study.yaml's order."""
    return [
        load(paths.results_dir(tier), tier, study)
        for tier in study.tiers
        if tier != SMOKE and (paths.results_dir(tier) / paths.COMPARISONS).is_file()
    ]


def _others(tiers: list[Recorded]) -> list[str]:
    """The variants compared with the method at every tier (a variant added later: at some)."""
    return list(dict.fromkeys(variant for recorded in tiers for variant in recorded.comparisons))


def _cell(recorded: Recorded, variant: str) -> str:
    if variant not in recorded.comparisons:
        return "not run"
    metric = recorded.study.main_metric
    paired = recorded.comparisons[variant][metric]["paired"]
    low, high = paired["ci_low"], paired["ci_high"]
    interval = "n/a" if low is None or high is None else f"[{low:+.4f}, {high:+.4f}]"
    return f"{paired['difference']:+.4f} {interval}, {recorded.metric(metric).verdict(low, high)}"


def caption(tiers: list[Recorded]) -> str:
    study = tiers[0].study
    metric = study.main_metric
    better = study.metrics[metric].better.value
    seeds = ", ".join(f"{recorded.tier} n={recorded.seeds}" for recorded in tiers)
    return (
        f"Does it scale? Each variant's difference from the {METHOD} method in {metric}, the main "
        f"metric ({better} is better), at each tier recorded beyond smoke (conf/study.yaml; each "
        f"at the scale of its name, conf/scale/): the mean difference paired by seed ({seeds}), "
        "its 95% confidence interval, and the verdict against the method, as each tier's "
        "comparisons.json records it. A difference that keeps its sign and verdict as the scale "
        "grows holds at scale; one that shrinks towards 0 may vanish."
    )


def markdown(tiers: list[Recorded]) -> str:
    header = [f"vs. {METHOD}", *(recorded.tier for recorded in tiers)]
    rows = [[variant, *(_cell(recorded, variant) for recorded in tiers)] for variant in _others(tiers)]
    alt = f"Difference from {METHOD} in {tiers[0].study.main_metric} per tier, with 95% confidence intervals"
    image = f"![{alt}]({paths.shown(paths.SCALING_DIR / f'{paths.FIGURE}.png')})"
    return "\n".join([*markdown_table(header, rows), "", caption(tiers), "", image]) + "\n"


def latex(tiers: list[Recorded]) -> str:
    header = [rf"vs.\ {escape(METHOD)}", *(escape(recorded.tier) for recorded in tiers)]
    rows = [
        [escape(variant), *(escape(_cell(recorded, variant)) for recorded in tiers)]
        for variant in _others(tiers)
    ]
    source = ", ".join(recorded.shown(paths.COMPARISONS) for recorded in tiers)
    return latex_table("tab:scaling", caption(tiers), header, rows, source)


def draw(tiers: list[Recorded]) -> "Figure":
    from matplotlib.figure import Figure

    study, others = tiers[0].study, _others(tiers)
    metric = study.main_metric
    figure = Figure(figsize=(6.4, 3.2 + 0.15 * len(others)), layout="constrained")
    ax = figure.subplots()
    for index, variant in enumerate(others):
        # Side by side at each tier, so that intervals do not hide one another.
        shift = 0.3 * (index / max(len(others) - 1, 1) - 0.5) if len(others) > 1 else 0.0
        xs: list[float] = []
        ys: list[float] = []
        errors: list[list[float]] = [[], []]
        for position, recorded in enumerate(tiers):
            paired = recorded.comparisons.get(variant, {}).get(metric, {}).get("paired") or {}
            mean, low, high = paired.get("difference"), paired.get("ci_low"), paired.get("ci_high")
            if mean is None or low is None or high is None:
                continue  # not run at this tier, or a difference with no interval (one seed)
            xs.append(position + shift)
            ys.append(mean)
            errors[0].append(mean - low)
            errors[1].append(high - mean)
        ax.errorbar(xs, ys, yerr=errors, fmt="o-", capsize=3, label=variant)
    ax.axhline(0, color="0.4", linestyle="--", linewidth=0.8)
    ax.set_xticks(range(len(tiers)), [f"{recorded.tier}\n(n={recorded.seeds})" for recorded in tiers])
    ax.set_ylabel(f"{metric} minus {METHOD}'s ({study.metrics[metric].better.value} is better)")
    ax.set_xlabel("tier, at the scale of its name")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.suptitle(f"Does it scale? Difference from {METHOD} in {metric}, per tier")
    note = (
        f"Circles: mean difference paired by seed; bars: its 95% confidence interval; dashed line: no "
        f"difference from {METHOD}."
    )
    figure.supxlabel(textwrap.fill(note, 110), fontsize=8)
    return figure


def current(study: StudyConfig) -> bool:
    """Whether results/scaling/ is what the recorded tiers give: both tables as they would be
    written and the figure there, or no folder at all with fewer than two tiers."""
    tiers, folder = recorded_tiers(study), paths.SCALING_DIR
    if len(tiers) < 2:
        return not folder.exists()
    written = {name: folder / name for name in (paths.TABLE_MD, paths.TABLE_TEX)}
    if not all(path.is_file() for path in written.values()):
        return False
    return (
        written[paths.TABLE_MD].read_text(encoding="utf-8") == markdown(tiers)
        and written[paths.TABLE_TEX].read_text(encoding="utf-8") == latex(tiers)
        and all((folder / f"{paths.FIGURE}.{kind}").is_file() for kind in ("png", "pdf"))
    )


def write(study: StudyConfig) -> list[Recorded]:
    """results/scaling/ from the recorded tiers, or removed when fewer than two are recorded."""
    tiers = recorded_tiers(study)
    folder = paths.SCALING_DIR
    if len(tiers) < 2:
        shutil.rmtree(folder, ignore_errors=True)
        return tiers
    folder.mkdir(parents=True, exist_ok=True)
    (folder / paths.TABLE_MD).write_text(markdown(tiers), encoding="utf-8")
    (folder / paths.TABLE_TEX).write_text(latex(tiers), encoding="utf-8")
    with results_figure.style():
        results_figure.save(draw(tiers), folder, paths.FIGURE)
    return tiers
