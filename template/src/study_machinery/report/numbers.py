"""The main result's numbers as LaTeX macros, for the paper's prose: numbers.tex.

A number in a sentence ("the method reaches 0.9733") is typed by hand and goes stale when the
result changes; written as a macro it is the record's, rounded as the tables round it:

    \\result{proposed}{accuracy}{mean}                 0.9733 (also std, ci_low, ci_high, n)
    \\difference{baseline/knn}{accuracy}{difference}   -0.0123 (also ci_low, ci_high, p, verdict)
    \\compute{cpu_hours}                                0.05 (also runs, gpu_hours, energy_kwh, co2e_kg)

A name the record does not hold stops the build with the name, never prints nothing. numbers.md
gives the same numbers as fragments for the README's prose, which readme.py keeps true.
`\\notaresult{2.5}` marks a number that is not a result (a learning rate, a version), which the
check of typed numbers (checks/numbers.py) then leaves alone.
"""

from study_machinery.report.latex import escape
from study_machinery.report.tables import p_value, score
from study_machinery.results.recorded import COMPUTE, Recorded

# What each macro takes, in the order a reader meets them.
STATISTICS = ("mean", "std", "ci_low", "ci_high", "n")
QUANTITIES = ("difference", "ci_low", "ci_high", "p", "verdict")

HEADER = r"""% The numbers of results/TIER/, for the paper's prose: written by the report stage
% (python -m study_machinery report), never by hand. Each is the record's, rounded as the tables.
\makeatletter
% \studynumber{NAME}{WHAT}: the number, or an error naming WHAT where the record has none.
\newcommand{\studynumber}[2]{\@ifundefined{studynumber@#1}{\PackageError{numbers}
  {results/TIER/numbers.tex has no #2}{Names: see that file.}}{\@nameuse{studynumber@#1}}}
\newcommand{\result}[3]{\studynumber{result@#1@#2@#3}{result #1 #2 #3}}
\newcommand{\difference}[3]{\studynumber{difference@#1@#2@#3}{difference #1 #2 #3}}
\newcommand{\compute}[1]{\studynumber{compute@#1}{compute #1}}
% A number that is not a result, which the check of typed numbers leaves alone.
\newcommand{\notaresult}[1]{\ignorespaces#1}
"""


def _define(name: str, value: str) -> str:
    return r"\@namedef" + "{studynumber@" + name + "}{" + value + "}"


def _signed(value: float | None) -> str:
    """A difference as the tables show it: its sign always, four decimals."""
    return "n/a" if value is None else f"{value:+.4f}"


def values(recorded: Recorded) -> dict[str, str]:
    """Every number a macro gives, by its macro's name: `result@VARIANT@METRIC@STATISTIC`, ..."""
    found = {}
    for variant, by_metric in recorded.summary.items():
        for metric in recorded.metrics:
            stats = by_metric[metric]
            for statistic in STATISTICS:
                value = stats[statistic]
                found[f"result@{variant}@{metric}@{statistic}"] = (
                    str(int(value)) if statistic == "n" else score(value)
                )
    for variant, tests in recorded.comparisons.items():
        for metric in recorded.metrics:
            paired = tests[metric]["paired"]
            for quantity in ("difference", "ci_low", "ci_high"):
                found[f"difference@{variant}@{metric}@{quantity}"] = _signed(paired[quantity])
            found[f"difference@{variant}@{metric}@p"] = p_value(paired["p_holm"])
            verdict = recorded.metric(metric).verdict(paired["ci_low"], paired["ci_high"])
            found[f"difference@{variant}@{metric}@verdict"] = verdict
    for quantity in COMPUTE:
        found[f"compute@{quantity}"] = f"{recorded.compute[quantity]:g}"
    return found


def call(name: str) -> str:
    """The macro that gives a number, as prose writes it: result@proposed@accuracy@mean ->
    \\result{proposed}{accuracy}{mean} (the paper's macro, the README's fragment)."""
    kind, *keys = name.split("@")
    return "\\" + kind + "".join("{" + key + "}" for key in keys)


def latex(recorded: Recorded) -> str:
    """numbers.tex: the macros, then one definition per number, its macro call in a comment."""
    lines = [HEADER.replace("TIER", recorded.tier).rstrip()]
    for name, value in values(recorded).items():
        lines.append(f"{_define(name, escape(value))}  % {call(name)}")
    lines.append(r"\makeatother")
    return "\n".join(lines) + "\n"


def markdown(recorded: Recorded) -> str:
    """numbers.md: each number as the fragment that places it in the README's prose, and its value."""
    lines = [
        f"# The numbers of results/{recorded.tier}/, for the README's prose",
        "",
        "Written by the report stage. Paste a fragment into README.md's prose: a reader sees the",
        "number alone, and `uvx nox -s record` keeps it the record's.",
        "",
        "| fragment | value |",
        "|---|---|",
    ]
    for name, value in values(recorded).items():
        lines.append(f"| `<!-- {call(name)} -->{value}<!-- end -->` | {value} |")
    return "\n".join(lines) + "\n"
