"""Compare a recorded result with a re-run, metric by metric, within declared tolerances."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from study_machinery.core.study import METHOD, NO_CLEAR_DIFFERENCE, Metric, Tolerance, ToleranceKind

EXACT = Tolerance(kind=ToleranceKind.exact)


@dataclass(frozen=True)
class Check:
    variant: str
    metric: str
    statistic: str
    recorded: float | None
    reproduced: float | None
    tolerance: str
    # None: not checked (the tolerance does not cover this statistic).
    passed: bool | None

    @property
    def name(self) -> str:
        return f"{self.variant} {self.metric} {self.statistic}"

    @property
    def difference(self) -> float | None:
        if self.recorded is None or self.reproduced is None:
            return None
        return self.reproduced - self.recorded


def prediction_half_width(std: float, n_recorded: int, n_new: int, confidence: float) -> float:
    """Half-width of the interval that holds the mean of n_new new runs with this confidence.

    From n_recorded runs with sample standard deviation std, assuming normal
    scores: t(1 - alpha/2, n_recorded - 1) * std * sqrt(1/n_recorded + 1/n_new).
    """
    from scipy import stats  # imported here: only statistical tolerances need it

    quantile = stats.t.ppf((1 + confidence) / 2, n_recorded - 1)
    return float(quantile * std * math.sqrt(1 / n_recorded + 1 / n_new))


def judge(statistic: str, old: dict, new: dict, tolerance: Tolerance) -> tuple[bool | None, str]:
    """Whether the re-run's statistic passes (None: not checked), and how the tolerance reads."""
    recorded, reproduced = old.get(statistic), new.get(statistic)
    if recorded is None or reproduced is None:
        return False, "both sides needed"
    if tolerance.kind is ToleranceKind.exact or statistic == "n":
        return recorded == reproduced, "exact"
    if tolerance.kind is ToleranceKind.close:
        parts = [f"abs {tolerance.abs_tol:g}"] if tolerance.abs_tol else []
        parts += [f"rel {tolerance.rel_tol:g}"] if tolerance.rel_tol else []
        passed = math.isclose(recorded, reproduced, rel_tol=tolerance.rel_tol, abs_tol=tolerance.abs_tol)
        return passed, "close: " + (", ".join(parts) or "exact")
    # Statistical: the re-run's mean must fall inside the recorded runs' prediction interval.
    if statistic != "mean":
        return None, "statistical: mean only"
    width = prediction_half_width(old["std"], old["n"], new["n"], tolerance.confidence)
    return abs(reproduced - recorded) <= width, f"{tolerance.confidence:.0%} PI ±{width:.3g}"


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
                passed, text = judge(statistic, old_stats, new_stats, tolerance)
                values = old_stats.get(statistic), new_stats.get(statistic)
                checks.append(Check(variant, metric, statistic, *values, text, passed))
    return checks


class Said:
    """What the record says and what the re-run says, in words: they must be the same."""

    recorded: str
    reproduced: str

    @property
    def passed(self) -> bool:
        return self.recorded == self.reproduced


@dataclass(frozen=True)
class Claim(Said):
    """What a comparison says (paired by seed, 95% interval): recorded, and in the re-run."""

    variant: str
    metric: str
    recorded: str
    reproduced: str

    @property
    def name(self) -> str:
        return f"{self.variant} vs {METHOD}, {self.metric}"

    def sentence(self) -> str:
        if self.recorded == NO_CLEAR_DIFFERENCE:
            return f"the claim that {self.variant} and {METHOD} do not clearly differ in {self.metric}"
        return f"the claim that {self.variant} is {self.recorded} than {METHOD} in {self.metric}"


def compare_claims(
    recorded: dict, reproduced: dict, tolerances: dict[str, Tolerance], metrics: dict[str, Metric]
) -> tuple[list[Check], list[Claim]]:
    """The comparisons with the method (comparisons.json, paired by seed): each difference and its
    interval within the metric's tolerance, and each claim's verdict the same. A verdict is the
    variant's in the metric's declared direction: better, worse or no clear difference."""
    checks, claims = [], []
    for variant in _keys(recorded, reproduced):
        old, new = recorded.get(variant, {}), reproduced.get(variant, {})
        for metric in _keys(old, new):
            old_pair, new_pair = old.get(metric, {}).get("paired", {}), new.get(metric, {}).get("paired", {})
            tolerance = tolerances.get(metric, EXACT)
            for statistic in ("difference", "ci_low", "ci_high"):
                passed, text = judge(statistic, old_pair, new_pair, tolerance)
                values = old_pair.get(statistic), new_pair.get(statistic)
                checks.append(Check(f"{variant} - {METHOD}", metric, statistic, *values, text, passed))
            declared = metrics.get(metric)
            claims.append(
                Claim(variant, metric, *(_verdict(declared, pair) for pair in (old_pair, new_pair)))
            )
    return checks, claims


def _verdict(metric: Metric | None, pair: dict) -> str:
    if metric is None:
        return "not declared in conf/study.yaml"
    return metric.verdict(pair.get("ci_low"), pair.get("ci_high"))


@dataclass(frozen=True)
class Choice(Said):
    """What a tier's search chose for a variant (search/ledger.py): recorded, and in the re-run."""

    variant: str
    recorded: str
    reproduced: str

    @property
    def name(self) -> str:
        return f"the search's choice for {self.variant}"


def compare_choices(recorded: dict[str, dict], reproduced: dict[str, dict]) -> list[Choice]:
    """Each tuned variant's chosen trial and values, from its ledger on either side."""

    def said(ledger: dict | None) -> str:
        if ledger is None:
            return "missing"
        chosen = ledger["chosen"]
        values = " ".join(f"{key}={value!r}" for key, value in chosen["values"].items())
        return f"trial {chosen['trial']}: {values}"

    return [
        Choice(variant, said(recorded.get(variant)), said(reproduced.get(variant)))
        for variant in _keys(recorded, reproduced)
    ]


def render_choices(choices: list[Choice]) -> str:
    header = ("search (the validation split)", "recorded", "reproduced", "check")
    rows = [(c.variant, c.recorded, c.reproduced, "pass" if c.passed else "FAIL") for c in choices]
    return _table(header, rows)


def render_claims(claims: list[Claim]) -> str:
    """A plain-text table: claim, recorded verdict, reproduced verdict (the variant's: better, worse or
    no clear difference than the method), pass or FAIL."""
    header = ("claim (paired by seed, 95% CI)", "recorded", "reproduced", "check")
    rows = [(c.name, c.recorded, c.reproduced, "pass" if c.passed else "FAIL") for c in claims]
    return _table(header, rows)


def _keys(first: dict, second: dict) -> list[str]:
    """The keys of both, in the first's order, then those found only in the second."""
    return [*first, *(key for key in second if key not in first)]


def _number(value: object) -> str:
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
            check.tolerance,
            {True: "pass", False: "FAIL", None: "skip"}[check.passed],
        )
        for check in checks
    ]
    return _table(header, rows)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, tuple("-" * width for width in widths), *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in lines
    )
