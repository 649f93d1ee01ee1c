"""A tier's tables and figure: `python -m study_machinery report [TIER]`, the report stage.

Writes, into results/<tier>/ beside the numbers they show:
- table.md: both tables with captions, the README's results section;
- table.tex, differences.tex: the same as booktabs tables for a paper;
- numbers.tex: every number of the result as a LaTeX macro, for a paper's prose (see numbers.py);
- numbers.md: the same numbers as fragments to place in the README's prose;
- figure.png, figure.pdf: the result as a figure (see figure.py);
- curves.png, curves.pdf: the learning curves (see curves.py).
"""

from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.study import load_study
from study_machinery.report import curves, figure, numbers, tables
from study_machinery.results.recorded import Recorded, load


def write_report(tier: str) -> None:
    study = load_study()
    folder = paths.results_dir(tier)
    recorded = load(folder, tier)
    (folder / paths.TABLE_MD).write_text(tables.markdown(recorded, study.seeds_vary), encoding="utf-8")
    (folder / paths.TABLE_TEX).write_text(tables.latex_results(recorded, study.seeds_vary), encoding="utf-8")
    (folder / paths.DIFFERENCES_TEX).write_text(tables.latex_differences(recorded), encoding="utf-8")
    (folder / paths.NUMBERS_TEX).write_text(numbers.latex(recorded), encoding="utf-8")
    (folder / paths.NUMBERS_MD).write_text(numbers.markdown(recorded), encoding="utf-8")
    write_figures(recorded, study.seeds_vary, folder)


def write_figures(recorded: Recorded, seeds_vary: str, folder: Path) -> None:
    with figure.style():
        figure.save(figure.draw(recorded, seeds_vary), folder, paths.FIGURE)
        figure.save(curves.draw(recorded, seeds_vary), folder, paths.CURVES_FIGURE)
