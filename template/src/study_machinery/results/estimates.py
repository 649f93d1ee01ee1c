"""Means with their uncertainty, and differences from the proposed method (scipy.stats).

The error bars of this study are 95% confidence intervals of a mean over
seeds, from Student's t distribution: they say how far the mean could move
under other seeds. The standard deviation beside them says how much one run
varies; the standard error is std / sqrt(n).
"""

import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

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
    """`other` minus `method`, unpaired: the difference of means, its Welch t interval and p-value.

    Welch's test does not assume equal variances; the p-value is two-sided and
    not corrected for the number of comparisons. A p-value above 0.05 does not
    show the two are equal: the interval says how large a difference remains plausible.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(other, method, equal_var=False)
        interval = result.confidence_interval(confidence)
    return _difference(statistics.fmean(other) - statistics.fmean(method), result, interval)


def paired_difference(
    method: Mapping[int, float], other: Mapping[int, float], confidence: float = CONFIDENCE
) -> dict:
    """`other` minus `method` seed by seed: the mean difference, its t interval and p-value.

    A seed gives every variant the same train/test split, so the two runs of a
    seed are a pair; the seed-to-seed variation they share cancels out, which
    makes this interval narrower than Welch's whenever the variants move together.
    """
    if method.keys() != other.keys():
        raise ValueError(
            f"a paired comparison needs the same seeds, got {sorted(method)} and {sorted(other)}"
        )
    seeds = sorted(method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_rel([other[seed] for seed in seeds], [method[seed] for seed in seeds])
        interval = result.confidence_interval(confidence)
    return _difference(statistics.fmean(other[seed] - method[seed] for seed in seeds), result, interval)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values; an undefined one (None) stays None.

    It keeps the chance of any false "significant" in the family at or below the level
    whatever the dependence between the tests (two metrics of one run are far from
    independent), and is uniformly more powerful than Bonferroni. statsmodels imports
    pandas, about 0.4 s here: so only when a tier is aggregated.
    """
    from statsmodels.stats.multitest import multipletests

    defined = [p for p in p_values if p is not None]
    adjusted = iter(multipletests(defined, method="holm")[1].tolist() if defined else [])
    return [None if p is None else next(adjusted) for p in p_values]


def _difference(delta: float, result: Any, interval: Any) -> dict:
    p_value = float(result.pvalue)
    # Undefined when nothing varies: scipy then reports nan (or a stand-in df of 1).
    undefined = math.isnan(p_value) or not math.isfinite(float(result.statistic))
    return {
        "difference": delta,
        "ci_low": _finite(interval.low, delta),
        "ci_high": _finite(interval.high, delta),
        "p_value": None if math.isnan(p_value) else p_value,
        "df": None if undefined else float(result.df),
    }


def _finite(value: float, fallback: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else fallback
