"""Text as LaTeX typesets it literally: the study's one LaTeX escaping (tables and captions).

The paper's title in paper/main.tex, written by copier from the project name, is escaped by
the same table; the template's tests check, character by character, that the two agree.
"""

SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # Typeset as other glyphs in LaTeX's default font encoding, so set in math mode.
    "<": r"$<$",
    ">": r"$>$",
    "±": r"$\pm$",
    # Which way a metric is better, in the tables' headers and captions.
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
}


def escape(text: str) -> str:
    return "".join(SPECIAL.get(char, char) for char in text)
