"""The README's results table, generated from the main tier's results/<tier>/metrics.json.

`python -m <package>.report` rewrites the table between the markers in
README.md; `--check` only says whether it is in sync (the tests use it).
"""

import argparse
import json
import sys
from pathlib import Path

from .config import ROOT
from .study import load_study

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def results_table(summary: dict[str, dict[str, dict[str, float]]], source: Path) -> str:
    """A Markdown table: mean ± standard deviation per variant and metric."""
    metrics = list(next(iter(summary.values())))
    seeds = {stats["n"] for variant in summary.values() for stats in variant.values()}
    lines = [
        "| variant | " + " | ".join(metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for variant, stats in summary.items():
        cells = [f"{stats[m]['mean']:.4f} ± {stats[m]['std']:.4f}" for m in metrics]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Mean ± sample standard deviation (ddof=1) over n={', '.join(map(str, sorted(seeds)))} seeds "
        "on the held-out test set; each seed draws its own train/test split and model "
        f"initialisation. Recorded in `{source.as_posix()}`.",
    ]
    return "\n".join(lines)


def with_table(readme: str, table: str, readme_path: Path) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise ValueError(
            f"{readme_path} needs exactly one '{BEGIN}' line followed by one '{END}' line "
            "around the results table; nothing was changed."
        )
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README.md is out of sync")
    parser.add_argument("--results", type=Path, help="default: the main tier's results/<tier>/metrics.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)

    results = args.results or ROOT / "results" / load_study().main_tier / "metrics.json"
    if not results.is_file():
        print(f"error: {results} is missing: run `uv run dvc repro` first.", file=sys.stderr)
        return 1
    shown = results.resolve().relative_to(ROOT) if results.resolve().is_relative_to(ROOT) else results
    table = results_table(json.loads(results.read_text()), shown)
    readme = args.readme.read_text(encoding="utf-8")
    try:
        updated = with_table(readme, table, args.readme)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check:
        if updated != readme:
            print(f"{args.readme} results table is out of sync: run `uv run python -m {__package__}.report`.")
            return 1
        return 0
    if updated != readme:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
