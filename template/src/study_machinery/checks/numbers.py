"""Numbers typed by hand into the prose of the paper or the README, which go stale when the result changes.

Every decimal number in the body of paper/*.tex (outside comments) must come from the record,
as a macro of results/TIER/numbers.tex (report/numbers.py): `\\result{proposed}{accuracy}{mean}`,
`\\difference{...}`, `\\compute{...}`. A number that is not a result (a learning rate, a version)
is written `\\notaresult{3e-3}`; a length (`0.8\\linewidth`, `2.5cm`) is not a number of prose.
In README.md the same holds for its prose: a number of the record is a fragment of
results/TIER/numbers.md (`<!-- \\result{...}{...}{...} -->VALUE<!-- end -->`), which `nox -s
record` keeps true; one that is not a result goes in backticks. Code blocks, inline code, links,
comments, versions ("Python 3.11") and the results section (the record's own tables) are not prose.
Only decimals are read: "5 seeds" or "95\\%" are counts and levels the config states.
"""

import re
from pathlib import Path

from study_machinery.core import paths
from study_machinery.report.readme import BEGIN, END, NUMBER

# A decimal number standing alone (a sentence may end after it): not part of a word, of a
# version (1.2.3) or of a longer number.
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?!\w|\.\d)")
# ... unless it is a length: a unit right after it (2.5cm; "0.98 in accuracy" is prose), or a
# TeX dimension (0.8\linewidth).
LENGTH = re.compile(
    r"(?:pt|cm|mm|in|em|ex|bp|pc|dd|cc|sp|mu)\b|\s*\\[A-Za-z]*(?:width|height|skip|sep|size)\b"
)
COMMENT = re.compile(r"(?<!\\)%.*$")
NOT_A_RESULT = re.compile(r"\\notaresult\{[^{}]*\}")
# What is not prose on a line of Markdown: inline code, a comment, a link's target, an address,
# and a version named as one ("Python 3.11", "version 2.1", which every README of an earlier
# release of the template says, outside backticks).
NOT_PROSE = re.compile(
    r"(`+).*?\1|<!--.*?-->|\]\([^)]*\)|<[^<>\s]+>|\bhttps?://\S+|\b(?:Python|version) \d+(?:\.\d+)+",
    re.IGNORECASE,
)


def paper_files(root: Path = paths.ROOT) -> list[Path]:
    """The paper's LaTeX sources: paper/**/*.tex, its build folder aside."""
    folder = root / paths.PAPER_DIR
    built = folder / paths.PAPER_BUILD
    return sorted(path for path in folder.rglob("*.tex") if not path.is_relative_to(built))


def paper_numbers(root: Path = paths.ROOT) -> list[str]:
    """Each decimal number typed into the paper's prose, as FILE:LINE: NUMBER."""
    found = []
    for path in paper_files(root):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        # In the main file, the body: the preamble's numbers are settings, not prose.
        begin = next((index for index, line in enumerate(lines) if r"\begin{document}" in line), -1)
        for number, line in enumerate(lines, start=1):
            if number <= begin + 1 and begin >= 0:
                continue
            text = NOT_A_RESULT.sub("", COMMENT.sub("", line))
            for match in DECIMAL.finditer(text):
                if LENGTH.match(text, match.end()):
                    continue
                found.append(f"{path.relative_to(root).as_posix()}:{number}: {match.group()}")
    return found


def readme_numbers(root: Path = paths.ROOT) -> list[str]:
    """Each decimal number typed into README.md's prose, as README.md:LINE: NUMBER."""
    path = root / paths.README.relative_to(paths.ROOT)
    if not path.is_file():
        return []
    found, fenced, results = [], False, False
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        results = (results or BEGIN in line) and END not in line
        if fenced or results or END in line:
            continue
        text = NOT_PROSE.sub(" ", NUMBER.sub(" ", line))
        found += [f"{path.name}:{number}: {match.group()}" for match in DECIMAL.finditer(text)]
    return found


def typed_numbers(root: Path = paths.ROOT) -> list[str]:
    """Each decimal number typed by hand into the paper's or the README's prose: FILE:LINE: NUMBER."""
    return paper_numbers(root) + readme_numbers(root)


def explain(found: list[str]) -> str:
    """What to do about typed numbers, one line each, in a message of a few lines."""
    macros = r"(\result{proposed}{METRIC}{mean}, \difference{...}, \compute{...})"
    return (
        "these numbers of the prose are typed by hand, so nothing keeps them true when the result "
        "changes:\n  " + "\n  ".join(found) + f"\nWrite each as the record's: in the paper the macro "
        f"of results/<main tier>/{paths.NUMBERS_TEX} that gives it {macros}, in the README its fragment "
        f"of {paths.NUMBERS_MD}; a number that is not a result as " + r"\notaresult{...}" + " in the paper, "
        "in backticks in the README."
    )
