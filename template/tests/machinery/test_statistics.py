"""The statistics, tables and figure of a result, checked against references and bad input."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from study_machinery.core import paths
from study_machinery.report import curves as curves_figure
from study_machinery.report import figure, latex, tables, write
from study_machinery.results.estimates import describe, difference, holm, paired_difference
from study_machinery.results.recorded import ResultsError, load

SMOKE = paths.results_dir("smoke")
RNG = np.random.default_rng(20261122)
# Twenty samples of 2 to 11 scores, each with its own mean and spread.
SAMPLES = [RNG.normal(RNG.uniform(0, 1), RNG.uniform(0.001, 0.1), RNG.integers(2, 12)) for _ in range(20)]


def _t(confidence: float, df: float) -> float:
    return stats.t.ppf((1 + confidence) / 2, df)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: f"n={len(sample)}")
def test_describe_matches_the_textbook_formulas(sample):
    n, mean, std = len(sample), float(np.mean(sample)), float(np.std(sample, ddof=1))
    se = std / math.sqrt(n)
    expected = {
        "mean": mean,
        "std": std,
        "se": se,
        "ci_low": mean - _t(0.95, n - 1) * se,
        "ci_high": mean + _t(0.95, n - 1) * se,
        "n": n,
    }
    assert describe(list(sample)) == pytest.approx(expected, rel=1e-9)


PAIRS = list(zip(SAMPLES[::2], SAMPLES[1::2], strict=True))


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: f"n={len(pair[0])},{len(pair[1])}")
def test_welch_difference_matches_the_textbook_formulas(pair):
    method, other = pair
    v1, v2 = np.var(other, ddof=1) / len(other), np.var(method, ddof=1) / len(method)
    # Welch-Satterthwaite degrees of freedom.
    df = (v1 + v2) ** 2 / (v1**2 / (len(other) - 1) + v2**2 / (len(method) - 1))
    delta, se = np.mean(other) - np.mean(method), math.sqrt(v1 + v2)
    expected = {
        "difference": delta,
        "ci_low": delta - _t(0.95, df) * se,
        "ci_high": delta + _t(0.95, df) * se,
        "p_value": 2 * stats.t.sf(abs(delta) / se, df),
        "df": df,
    }
    assert difference(list(method), list(other)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda pair: f"n={len(pair[0])}")
def test_paired_difference_matches_the_textbook_formulas(pair):
    method = dict(enumerate(pair[0]))
    # The other variant: the method's scores moved by a shift and noise of their own, seed by seed.
    other = {seed: score + 0.01 + RNG.normal(0, 0.005) for seed, score in method.items()}
    deltas = np.array([other[seed] - method[seed] for seed in method])
    n, mean = len(deltas), float(np.mean(deltas))
    se = float(np.std(deltas, ddof=1)) / math.sqrt(n)
    expected = {
        "difference": mean,
        "ci_low": mean - _t(0.95, n - 1) * se,
        "ci_high": mean + _t(0.95, n - 1) * se,
        "p_value": 2 * stats.t.sf(abs(mean) / se, n - 1),
        "df": n - 1,
    }
    assert paired_difference(method, other) == pytest.approx(expected, rel=1e-9)


def test_a_paired_comparison_needs_the_same_seeds():
    with pytest.raises(ValueError, match="needs the same seeds"):
        paired_difference({0: 0.9, 1: 0.8}, {0: 0.9, 2: 0.8})


def test_runs_that_do_not_vary_have_no_spread_and_no_p_value():
    assert describe([0.9, 0.9, 0.9]) == pytest.approx(
        {"mean": 0.9, "std": 0.0, "se": 0.0, "ci_low": 0.9, "ci_high": 0.9, "n": 3}
    )
    same = difference([0.9, 0.9], [0.9, 0.9])
    assert (same["difference"], same["p_value"], same["df"]) == (0.0, None, None)
    shifted = paired_difference({0: 0.9, 1: 0.8}, {0: 0.95, 1: 0.85})
    assert shifted["difference"] == pytest.approx(0.05) and shifted["df"] is None


def test_holm_adjusts_by_rank_and_keeps_the_order():
    # Sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to 0.06 to stay monotone.
    assert holm([0.04, None, 0.01, 0.03]) == pytest.approx([0.06, None, 0.03, 0.06])
    assert holm([0.6, 0.9]) == [1.0, 1.0] and holm([None]) == [None]


def test_one_run_is_not_a_spread():
    with pytest.raises(ValueError, match="two values or more"):
        describe([0.9])


def test_tables_state_what_the_numbers_are():
    recorded = load(SMOKE)
    text = tables.markdown(recorded, "the split")
    assert "Mean ± sample standard deviation (ddof=1) over n=2 seeds" in text
    assert "The seeds vary the split." in text
    other = next(iter(recorded.comparisons))
    assert "paired t-test" in text and f"| {other} |" in text
    assert "adjusted by Holm's method" in text and "p (Holm)" in text
    latex_table = tables.latex_results(recorded, "the split")
    assert r"\toprule" in latex_table and r"\bottomrule" in latex_table
    assert r"\label{tab:results}" in latex_table
    assert f"{latex.escape(other)} & " in latex_table, "LaTeX's special characters are escaped"
    assert latex.escape("a_b & 5% < 1") == r"a\_b \& 5\% $<$ 1"
    assert r"\label{tab:differences}" in tables.latex_differences(recorded)


def test_the_figures_are_written_as_png_and_pdf(tmp_path):
    write.write_figures(load(SMOKE), "the split", tmp_path)
    for name in ("figure", "curves"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert "95% confidence interval of the mean" in figure.caption("the split")
    assert "Not shown, as they report no epochs: baseline/knn." in curves_figure.caption(
        "the split", ["baseline/knn"]
    )


def _copy_of_smoke(tmp_path: Path) -> Path:
    folder = tmp_path / "smoke"
    shutil.copytree(SMOKE, folder)
    return folder


def test_a_result_with_a_missing_metric_is_named(tmp_path):
    folder = _copy_of_smoke(tmp_path)
    summary = json.loads((folder / "metrics.json").read_text())
    other = list(summary)[-1]
    metric = list(summary[other])[-1]
    del summary[other][metric]
    (folder / "metrics.json").write_text(json.dumps(summary))
    with pytest.raises(ResultsError, match=rf"metrics.json: variant '{other}' has no metric '{metric}'"):
        load(folder)


def test_a_missing_results_file_names_the_command_that_makes_it(tmp_path):
    folder = _copy_of_smoke(tmp_path)
    (folder / "comparisons.json").unlink()
    with pytest.raises(ResultsError, match=r"comparisons.json is missing: run `uvx nox -s record`"):
        load(folder)
