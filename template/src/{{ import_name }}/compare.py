"""Compare a recorded result with a re-run, metric by metric, within declared tolerances."""

import math
from dataclasses import dataclass

from .config import Tolerance, ToleranceKind

EXACT = Tolerance(kind=ToleranceKind.exact)


@dataclass(frozen=True)
class Check:
    variant: str
    metric: str
    statistic: str
    recorded: float | None
    reproduced: float | None
    tolerance: Tolerance

    @property
    def name(self) -> str:
        return f"{self.variant} {self.metric} {self.statistic}"

    @property
    def difference(self) -> float | None:
        if self.recorded is None or self.reproduced is None:
            return None
        return self.reproduced - self.recorded

    @property
    def passed(self) -> bool:
        if self.recorded is None or self.reproduced is None:
            return False
        if self.tolerance.kind is ToleranceKind.exact or self.statistic == "n":
            return self.recorded == self.reproduced
        return math.isclose(
            self.recorded,
            self.reproduced,
            rel_tol=self.tolerance.rel_tol,
            abs_tol=self.tolerance.abs_tol,
        )

    @property
    def tolerance_text(self) -> str:
        if self.tolerance.kind is ToleranceKind.exact or self.statistic == "n":
            return "exact"
        parts = [f"abs {self.tolerance.abs_tol:g}"] if self.tolerance.abs_tol else []
        parts += [f"rel {self.tolerance.rel_tol:g}"] if self.tolerance.rel_tol else []
        return "close: " + (", ".join(parts) or "exact")


def compare(recorded: dict, reproduced: dict, tolerances: dict[str, Tolerance]) -> list[Check]:
    """One check per (variant, metric, statistic) found on either side.

    A metric without a declared tolerance must match exactly; anything present
    on one side only fails.
    """
    checks = []
    for variant in _keys(recorded, reproduced):
        old, new = recorded.get(variant, {}), reproduced.get(variant, {})
        for metric in _keys(old, new):
            old_stats, new_stats = old.get(metric, {}), new.get(metric, {})
            tolerance = tolerances.get(metric, EXACT)
            for statistic in _keys(old_stats, new_stats):
                recorded_value, reproduced_value = old_stats.get(statistic), new_stats.get(statistic)
                checks.append(Check(variant, metric, statistic, recorded_value, reproduced_value, tolerance))
    return checks


def _keys(first: dict, second: dict) -> list[str]:
    """The keys of both, in the first's order, then those found only in the second."""
    return [*first, *(key for key in second if key not in first)]


def _number(value: float | None) -> str:
    if value is None:
        return "missing"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def render(checks: list[Check]) -> str:
    """A plain-text table: metric, recorded, reproduced, difference, tolerance, verdict."""
    header = ("metric", "recorded", "reproduced", "difference", "tolerance", "verdict")
    rows = [
        (
            check.name,
            _number(check.recorded),
            _number(check.reproduced),
            "n/a" if check.difference is None else f"{check.difference:+.3g}",
            check.tolerance_text,
            "pass" if check.passed else "FAIL",
        )
        for check in checks
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    rows.insert(0, tuple("-" * width for width in widths))
    rows.insert(0, header)
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )
