"""The main tier's tables and figure: `python -m <package>.report [TIER]`, the report stage.

Writes, into results/<tier>/ beside the numbers they show:
- table.md: both tables with captions, the README's results section;
- table.tex, differences.tex: the same as booktabs tables for a paper;
- figure.png, figure.pdf: the result as a figure (see figure.py).
"""

import sys

from . import figure, tables
from .config import ROOT
from .results import ResultsError, load
from .study import load_study


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    study = load_study()
    tier = argv[0] if argv else study.main_tier
    if len(argv) > 1 or tier not in study.tiers:
        print(f"usage: python -m {__package__}.report [TIER], one of: {', '.join(study.tiers)}")
        return 2
    folder = ROOT / "results" / tier
    try:
        recorded = load(folder, tier)
    except ResultsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    (folder / "table.md").write_text(tables.markdown(recorded, study.seeds_vary), encoding="utf-8")
    (folder / "table.tex").write_text(tables.latex_results(recorded, study.seeds_vary), encoding="utf-8")
    (folder / "differences.tex").write_text(tables.latex_differences(recorded), encoding="utf-8")
    figure.write(recorded, study.seeds_vary, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
