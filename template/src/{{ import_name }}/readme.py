"""The README's results section, regenerated from the main tier's recorded result.

`python -m <package>.readme` rewrites what stands between the two markers in
README.md (the tables of results/<tier>/table.md and the figure); `--check`
only says whether it is in sync (the tests use it). Nothing outside the
markers is touched.
"""

import argparse
import sys
from pathlib import Path

from . import tables
from .config import ROOT
from .results import ResultsError, load
from .study import load_study

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def section(results_dir: Path, tier: str, seeds_vary: str) -> str:
    """The tables and the figure of a recorded result, as they stand in the README."""
    recorded = load(results_dir, tier)
    if not (results_dir / "figure.png").is_file():
        raise ResultsError(f"{results_dir / 'figure.png'} is missing: run `uvx nox -s record`.")
    metrics = ", ".join(recorded.metrics)
    alt = f"{metrics} per variant: means with 95% confidence intervals over the seeds"
    return f"{tables.markdown(recorded, seeds_vary)}\n![{alt}]({recorded.shown('figure.png')})"


def with_section(readme: str, content: str, readme_path: Path) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(
            f"{readme_path} needs exactly one '{BEGIN}' line followed by one '{END}' line "
            "around the results; nothing was changed."
        )
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{content}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md is out of sync")
    parser.add_argument("--results", type=Path, help="default: the main tier's folder under results/")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)

    study = load_study()
    results_dir = args.results or ROOT / "results" / study.main_tier
    readme = args.readme.read_text(encoding="utf-8")
    try:
        updated = with_section(readme, section(results_dir, study.main_tier, study.seeds_vary), args.readme)
    except (ResultsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check:
        if updated != readme:
            print(
                f"{args.readme}: the results section is out of sync: "
                f"run `uv run python -m {__package__}.readme`."
            )
            return 1
        return 0
    if updated != readme:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
