"""Means with their uncertainty, and differences from the proposed method (scipy.stats).

The error bars of this study are 95% confidence intervals of a mean over
seeds, from Student's t distribution: they say how far the mean could move
under other seeds. The standard deviation beside them says how much one run
varies; the standard error is std / sqrt(n).
"""

import math
import statistics
import warnings
from collections.abc import Sequence

from scipy import stats

CONFIDENCE = 0.95


def describe(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, float | int]:
    """Mean, sample standard deviation (ddof=1), standard error, t confidence interval and n."""
    if len(values) < 2:
        raise ValueError(f"a spread needs two values or more, got {len(values)}")
    with warnings.catch_warnings():
        # Identical values (a deterministic model) make scipy warn; their interval is the mean itself.
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = stats.ttest_1samp(values, 0.0).confidence_interval(confidence)
    mean = statistics.fmean(values)
    return {
        "mean": mean,
        "std": statistics.stdev(values),
        "se": float(stats.sem(values, ddof=1)),
        "ci_low": _finite(interval.low, mean),
        "ci_high": _finite(interval.high, mean),
        "n": len(values),
    }


def difference(method: Sequence[float], other: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """`other` minus `method`: the difference of means, its Welch t confidence interval and p-value.

    Welch's test does not assume equal variances; the p-value is two-sided and
    not corrected for the number of comparisons. A p-value above 0.05 does not
    show the two are equal: the interval says how large a difference remains plausible.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(other, method, equal_var=False)
        interval = result.confidence_interval(confidence)
    delta = statistics.fmean(other) - statistics.fmean(method)
    p_value = float(result.pvalue)
    return {
        "difference": delta,
        "ci_low": _finite(interval.low, delta),
        "ci_high": _finite(interval.high, delta),
        # Undefined when neither side varies and their means are equal.
        "p_value": None if math.isnan(p_value) else p_value,
        "df": float(result.df),
    }


def _finite(value: float, fallback: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else fallback
