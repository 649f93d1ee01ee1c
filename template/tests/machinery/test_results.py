"""The recorded result: how it is aggregated, shown and checked."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from study_machinery.checks import numbers
from study_machinery.checks.compare import compare
from study_machinery.checks.reproduce import reproduce
from study_machinery.cli import main
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, ComputeAssumptions, Tolerance, ToleranceKind, load_study
from study_machinery.report import readme
from study_machinery.results.aggregate import IncompleteRunsError, collect, compute_used, summarise
from study_machinery.storage.verify import corrupted

STUDY = load_study()
RECORDED = paths.results_dir(STUDY.main_tier) / "metrics.json"
CLOSE = {"accuracy": Tolerance(kind=ToleranceKind.close, abs_tol=0.005)}


def _write_run(runs: Path, variant: str, seed: int, accuracy: float) -> None:
    folder = paths.run_dir(runs, variant, seed)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"accuracy": accuracy, "macro_f1": accuracy}))
    usage = {"seconds": 1.0, "cpu_cores_used": 1, "gpus_used": 0, "where": {"host": "here"}}
    (folder / "run.json").write_text(json.dumps(usage))


def test_summary_has_mean_sample_std_se_confidence_interval_and_n(tmp_path):
    for seed, accuracy in enumerate([0.90, 0.92, 0.94]):
        _write_run(tmp_path, "proposed", seed, accuracy)
    summary = summarise(collect(tmp_path, ["proposed"], [0, 1, 2]), ["proposed"])
    # se = 0.02 / sqrt(3) = 0.011547; t(0.975, 2) = 4.3027, so the half-width is 0.049683.
    assert summary["proposed"]["accuracy"] == pytest.approx(
        {"mean": 0.92, "std": 0.02, "se": 0.011547, "ci_low": 0.870317, "ci_high": 0.969683, "n": 3}, abs=1e-6
    )


def test_compute_is_summed_and_its_footprint_estimated(tmp_path):
    for seed in range(4):
        _write_run(tmp_path, "proposed", seed, 0.9)
    assumptions = ComputeAssumptions(watts_per_cpu_core=10.0, watts_per_gpu=300.0, grams_co2e_per_kwh=500.0)
    compute = compute_used(collect(tmp_path, ["proposed"], range(4)), assumptions)
    # 4 runs x 1 s x 1 core = 4 core-seconds; at 10 W that is 40 J = 4e-2 / 3600 kWh.
    assert compute["cpu_hours"] == pytest.approx(4 / 3600, abs=1e-6)
    assert compute["energy_kwh"] == pytest.approx(40 / 3.6e6, abs=1e-6)
    assert compute["assumptions"]["grams_co2e_per_kwh"] == 500.0


def test_the_tolerances_name_recorded_metrics():
    recorded = json.loads(RECORDED.read_text())
    metrics = {metric for by_metric in recorded.values() for metric in by_metric}
    assert set(STUDY.tolerance) <= metrics, "conf/study.yaml declares a tolerance for a metric no run reports"


def test_runs_that_report_different_or_broken_metrics_are_named(tmp_path):
    _write_run(tmp_path, "proposed", 0, 0.9)
    _write_run(tmp_path, "proposed", 1, float("nan"))
    with pytest.raises(IncompleteRunsError, match=r"seed_1/metrics.json: not a number: accuracy, macro_f1"):
        collect(tmp_path, ["proposed"], [0, 1])
    (tmp_path / "proposed/seed_1/metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    with pytest.raises(IncompleteRunsError, match="every run must report the same ones"):
        collect(tmp_path, ["proposed"], [0, 1])


def test_an_unfinished_run_is_named_not_counted(tmp_path):
    _write_run(tmp_path, "proposed", 0, 0.9)
    with pytest.raises(IncompleteRunsError, match="seed_1"):
        collect(tmp_path, ["proposed"], [0, 1])


def test_compare_passes_within_and_fails_beyond_the_tolerance():
    recorded = {"proposed": {"accuracy": {"mean": 0.95, "std": 0.01, "n": 5}}}
    within = {"proposed": {"accuracy": {"mean": 0.953, "std": 0.01, "n": 5}}}
    beyond = {"proposed": {"accuracy": {"mean": 0.94, "std": 0.01, "n": 5}}}
    assert all(check.passed for check in compare(recorded, within, CLOSE))
    failed = [check.name for check in compare(recorded, beyond, CLOSE) if not check.passed]
    assert failed == ["proposed accuracy mean"]


def test_compare_fails_on_a_missing_metric_or_a_different_n():
    recorded = {"proposed": {"accuracy": {"mean": 0.95, "std": 0.01, "n": 5}}}
    reproduced = {"proposed": {"accuracy": {"mean": 0.95, "std": 0.01, "n": 4}, "macro_f1": {"mean": 0.9}}}
    failed = {check.name for check in compare(recorded, reproduced, CLOSE) if not check.passed}
    assert failed == {"proposed accuracy n", "proposed macro_f1 mean"}


def test_a_statistical_tolerance_uses_the_prediction_interval_of_the_mean():
    statistical = {"accuracy": Tolerance(kind=ToleranceKind.statistical, confidence=0.95)}
    recorded = {"proposed": {"accuracy": {"mean": 0.95, "std": 0.01, "n": 5}}}
    # t(0.975, 4) = 2.7764; 2.7764 * 0.01 * sqrt(1/5 + 1/5) = 0.01756.
    inside = {"proposed": {"accuracy": {"mean": 0.967, "std": 0.03, "n": 5}}}
    outside = {"proposed": {"accuracy": {"mean": 0.968, "std": 0.01, "n": 5}}}
    verdicts = {check.statistic: check.passed for check in compare(recorded, inside, statistical)}
    assert verdicts == {"mean": True, "std": None, "n": True}, "std is not checked, not passed"
    failed = [check for check in compare(recorded, outside, statistical) if check.passed is False]
    assert [check.name for check in failed] == ["proposed accuracy mean"]
    assert failed[0].tolerance == "95% PI ±0.0176"


def test_verify_names_a_corrupted_cache_object(tmp_path):
    good, bad = b"seven", b"eight"
    for content, stored in ((good, good), (bad, b"tampered")):
        md5 = hashlib.md5(content).hexdigest()
        path = tmp_path / "files" / "md5" / md5[:2] / md5[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stored)
    tampered = tmp_path / "files" / "md5" / hashlib.md5(bad).hexdigest()[:2]
    assert [path.parent for path in corrupted(tmp_path)] == [tampered]
    assert corrupted(tmp_path, [hashlib.md5(good).hexdigest()]) == []


def test_readme_results_match_the_recorded_result():
    assert RECORDED.is_file(), f"no recorded result in {RECORDED}: run `nox -s record`"
    assert main(["readme", "--check"]) == 0, "README.md is out of sync: run `nox -s record`"


def test_readme_without_markers_is_refused_and_left_alone(tmp_path, capsys):
    text = "# My study\n\nNo table here.\n"
    path = tmp_path / "README.md"
    path.write_text(text)
    assert main(["readme", "--readme", str(path)]) == 1
    assert f"{path} needs exactly one '<!-- results:begin -->' line" in capsys.readouterr().err
    assert path.read_text() == text


def _assert_reproduces(tier: str) -> None:
    checks, claims, choices, _ = reproduce(paths.ROOT, tier)
    # passed is None for what the tolerance does not check (a statistical one checks means only).
    failed = [
        f"{c.name}: recorded {c.recorded}, reproduced {c.reproduced}" for c in checks if c.passed is False
    ]
    failed += [f"{claim.sentence()} did not reproduce" for claim in claims if not claim.passed]
    failed += [f"{c.name}: {c.recorded} != {c.reproduced}" for c in choices if not c.passed]
    assert checks and not failed, failed


@pytest.mark.slow
def test_the_numbers_macros_give_the_recorded_result_as_the_tables_round_it():
    folder = paths.results_dir(STUDY.main_tier)
    lines = (folder / paths.NUMBERS_TEX).read_text(encoding="utf-8").splitlines()
    summary = json.loads((folder / paths.SUMMARY).read_text(encoding="utf-8"))
    for metric, stats in summary[METHOD].items():
        name, value = "@".join(("result", METHOD, metric, "mean")), format(stats["mean"], ".4f")
        call = "".join(("\\result", *("{" + key + "}" for key in (METHOD, metric, "mean"))))
        assert "\\@namedef{studynumber@" + name + "}{" + value + "}  % " + call in lines
    runs = json.loads((folder / paths.COMPUTE).read_text(encoding="utf-8"))["runs"]
    assert any(line.startswith("\\@namedef{studynumber@compute@runs}{" + str(runs) + "}") for line in lines)


def test_no_number_in_the_paper_or_the_readme_is_typed_by_hand():
    """Each decimal number of the prose of paper/*.tex and README.md is the record's (checks/numbers.py)."""
    found = numbers.typed_numbers()
    assert not found, numbers.explain(found)


def test_a_typed_number_is_named_by_file_and_line_and_a_macro_or_a_length_is_not(tmp_path):
    paper = tmp_path / paths.PAPER_DIR
    (paper / paths.PAPER_BUILD).mkdir(parents=True)
    (paper / "main.tex").write_text(
        "\\documentclass{article}\n\\setlength{\\parskip}{1.5pt}\\linespread{1.1}\n\\begin{document}\n"
        "That is \\result{proposed}{accuracy}{mean}: we reach 0.98. % It was 0.97.\n"
        "With \\notaresult{0.003} as the rate, on 0.5\\linewidth, in version 1.2.3, 95\\% of .5 runs.\n"
        "\\end{document}\n",
        encoding="utf-8",
    )
    (paper / "sections.tex").write_text("A section that says 12.5 in its first line.\n", encoding="utf-8")
    (paper / paths.PAPER_BUILD / "main.tex").write_text("\\begin{document} 0.5\n", encoding="utf-8")
    assert numbers.typed_numbers(tmp_path) == [
        "paper/main.tex:4: 0.98",
        "paper/main.tex:5: .5",
        "paper/sections.tex:1: 12.5",
    ]
    said = numbers.explain(numbers.typed_numbers(tmp_path))
    assert "paper/main.tex:4: 0.98" in said and "\\notaresult{...}" in said


def test_a_number_typed_into_the_readmes_prose_is_named_and_one_from_the_record_is_not(tmp_path):
    (tmp_path / "README.md").write_text(
        "# A study\n\nThe method reaches 0.98 (it was .97), <!-- \\result{proposed}{accuracy}{mean} -->0.9733"
        "<!-- end --> on the record.\n"
        "With `lr=0.003` from [v2.5](https://example.org/v1.5.2), Python 3.12, <!-- 0.5 --> 95% of 5.\n"
        "```console\nuv run python -m study_machinery run training.learning_rate=0.01\n```\n"
        "<!-- results:begin -->\n| proposed | 0.9733 |\n<!-- results:end -->\nAnd 1.5 times faster.\n",
        encoding="utf-8",
    )
    assert numbers.typed_numbers(tmp_path) == ["README.md:3: 0.98", "README.md:3: .97", "README.md:11: 1.5"]
    said = numbers.explain(numbers.typed_numbers(tmp_path))
    assert (
        "README.md:3: 0.98" in said and f"its fragment of {paths.NUMBERS_MD}" in said and "backticks" in said
    )


def test_the_readmes_numbers_are_the_records_and_an_unknown_one_is_named(tmp_path):
    """`readme` sets each number placed in the prose to the record's; one the record lacks is one line."""
    values = {"result@proposed@accuracy@mean": "0.9733", "compute@runs": "30"}
    text = (
        "It reaches <!-- \\result{proposed}{accuracy}{mean} -->0.5<!-- end --> in "
        "<!-- \\compute{runs} -->not yet recorded<!-- end --> runs.\n"
    )
    path = tmp_path / "README.md"
    assert readme.with_numbers(text, values, path, "small") == (
        "It reaches <!-- \\result{proposed}{accuracy}{mean} -->0.9733<!-- end --> in "
        "<!-- \\compute{runs} -->30<!-- end --> runs.\n"
    )
    with pytest.raises(StudyError) as refused:
        readme.with_numbers(
            text + "And <!-- \\result{proposed}{acuracy}{mean} --><!-- end -->.\n", values, path, "small"
        )
    assert str(refused.value) == (
        f"{path}:2: " + r"\result{proposed}{acuracy}{mean}" + " names no number of results/small/ "
        f"(results/small/{paths.NUMBERS_MD} lists them); nothing was changed."
    )
    # The fragments numbers.md offers are the ones the README takes, the method's main metric first.
    listed = (paths.results_dir(STUDY.main_tier) / paths.NUMBERS_MD).read_text(encoding="utf-8")
    call = "\\result{" + METHOD + "}{" + STUDY.main_metric + "}{mean}"
    fragment = next(cell for cell in re.findall(r"`(<!-- .*? -->.*?<!-- end -->)`", listed) if call in cell)
    assert readme.NUMBER.fullmatch(fragment)


# Slow: a clean-room re-run, which the CI workflow's `nox -s reproduce -- smoke` does right after the
# fast tests (so it runs once there).
@pytest.mark.slow
def test_the_smoke_tier_reproduces():
    _assert_reproduces("smoke")


@pytest.mark.slow
def test_the_main_result_reproduces():
    _assert_reproduces(STUDY.main_tier)
