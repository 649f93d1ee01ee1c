"""The README's results section and the numbers of its prose, from the main tier's record.

`python -m study_machinery readme` rewrites what stands between the two markers
in README.md (the tables of results/<tier>/table.md, the figure and the learning curves), and
the value of each number placed in the prose as a fragment of results/<tier>/numbers.md,
`<!-- \\result{proposed}{accuracy}{mean} -->VALUE<!-- end -->` (numbers.py names them all);
Once two or more tiers beyond smoke are recorded, it writes results/scaling/ too and shows it
there (scaling.py). `--check` only says whether all is in sync (the tests use it).
"""

import re
import sys
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import StudyConfig, load_study
from study_machinery.report import numbers, scaling, tables
from study_machinery.results.recorded import Recorded, ResultsError, load

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
# A number of the record in the prose: the macro that names it (numbers.py), then its value.
NUMBER = re.compile(r"(<!-- \\(result|difference|compute)((?:\{[^{}<>]*\})+) -->)(.*?)(<!-- end -->)")


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


def with_numbers(readme: str, values: dict[str, str], readme_path: Path, tier: str) -> str:
    """The README with each number of its prose set to the record's value (numbers.values)."""

    def value(match: re.Match) -> str:
        name = "@".join([match[2], *match[3][1:-1].split("}{")])
        if name not in values:
            line = readme.count("\n", 0, match.start()) + 1
            raise StudyError(
                f"{paths.shown(readme_path)}:{line}: {match[1][5:-4]} names no number of "
                f"results/{tier}/ (results/{tier}/{paths.NUMBERS_MD} lists them); nothing was changed."
            )
        return f"{match[1]}{values[name]}{match[5]}"

    return NUMBER.sub(value, readme)


def synced(readme: str, study: StudyConfig, readme_path: Path, results_dir: Path | None = None) -> str:
    """The README as the main tier's record has it: its results section and its prose's numbers."""
    results_dir = results_dir or paths.results_dir(study.main_tier)
    recorded = load(results_dir, study.main_tier)
    for name in (f"{paths.FIGURE}.png", f"{paths.CURVES_FIGURE}.png"):
        if not (results_dir / name).is_file():
            raise ResultsError(f"{results_dir / name} is missing: run `uvx nox -s record`.")
    section = section_of(recorded, study.seeds_vary)
    if len(tiers := scaling.recorded_tiers(study)) >= 2:
        section += "\n\n" + scaling.markdown(tiers).rstrip("\n")
    # The numbers first, so that an unknown one is named by its line in the README as it is.
    numbered = with_numbers(readme, numbers.values(recorded), readme_path, study.main_tier)
    return with_section(numbered, section, readme_path)


def update_readme(readme_path: Path, results_dir: Path | None = None, check: bool = False) -> bool:
    """Rewrite the README (or with `check`, only compare it); False when `check` finds it out of sync."""
    try:
        readme = readme_path.read_text(encoding="utf-8")
    except OSError as error:
        raise StudyError(f"{readme_path} cannot be read: {error.strerror}.") from None
    study = load_study()
    # Everything is computed before anything is written: an error leaves every file as it was.
    updated = synced(readme, study, readme_path, results_dir)
    if check:
        if not scaling.current(study):
            print(
                f"{paths.shown(paths.SCALING_DIR)} is out of date: run `uvx nox -s record`.", file=sys.stderr
            )
            return False
        if updated != readme:
            print(
                f"{paths.shown(readme_path)}: the results section or a number of the prose is out of "
                "sync: run `python -m study_machinery readme` (or `uvx nox -s record`).",
                file=sys.stderr,
            )
        return updated == readme
    scaling.write(study)
    if updated != readme:
        readme_path.write_text(updated, encoding="utf-8")
    return True
