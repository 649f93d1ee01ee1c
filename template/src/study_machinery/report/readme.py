"""The README's results section, regenerated from the main tier's recorded result.

`python -m study_machinery readme` rewrites what stands between the two markers
in README.md (the tables of results/<tier>/table.md, the figure and the learning curves); `--check`
only says whether it is in sync (the tests use it). Nothing outside the
markers is touched.
"""

import sys
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study
from study_machinery.report import tables
from study_machinery.results.recorded import Recorded, ResultsError, load

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def section(results_dir: Path, tier: str, seeds_vary: str) -> str:
    """The tables and the figures of a recorded result, as they stand in the README."""
    recorded = load(results_dir, tier)
    for name in (f"{paths.FIGURE}.png", f"{paths.CURVES_FIGURE}.png"):
        if not (results_dir / name).is_file():
            raise ResultsError(f"{results_dir / name} is missing: run `uvx nox -s record`.")
    return section_of(recorded, seeds_vary)


def section_of(recorded: Recorded, seeds_vary: str) -> str:
    metrics = ", ".join(recorded.metrics)
    alt = f"{metrics} per variant: means with 95% confidence intervals over the seeds"
    section = f"{tables.markdown(recorded, seeds_vary)}\n![{alt}]({recorded.shown(f'{paths.FIGURE}.png')})\n"
    x = recorded.study.curves.x
    if not recorded.curves:
        return section + f"\nNo variant reports per-{x} scores, so there are no learning curves."
    scores = ", ".join(dict.fromkeys(row["score"] for row in recorded.curves))
    alt = f"Learning curves per variant: {scores} per {x}, means over the seeds with 95% confidence bands"
    return section + f"\n![{alt}]({recorded.shown(f'{paths.CURVES_FIGURE}.png')})"


def with_section(readme: str, content: str, readme_path: Path) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise StudyError(
            f"{readme_path} needs exactly one '{BEGIN}' line followed by one '{END}' line "
            "around the results; nothing was changed."
        )
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{content}\n{END}{tail}"


def update_readme(readme_path: Path, results_dir: Path | None = None, check: bool = False) -> bool:
    """Rewrite the section (or with `check`, only compare it); False when `check` finds it out of sync."""
    study = load_study()
    results_dir = results_dir or paths.results_dir(study.main_tier)
    try:
        readme = readme_path.read_text(encoding="utf-8")
    except OSError as error:
        raise StudyError(f"{readme_path} cannot be read: {error.strerror}.") from None
    updated = with_section(readme, section(results_dir, study.main_tier, study.seeds_vary), readme_path)
    if check:
        if updated != readme:
            print(
                f"{paths.shown(readme_path)}: the results section is out of sync: "
                "run `python -m study_machinery readme` (or `uvx nox -s record`).",
                file=sys.stderr,
            )
        return updated == readme
    if updated != readme:
        readme_path.write_text(updated, encoding="utf-8")
    return True
