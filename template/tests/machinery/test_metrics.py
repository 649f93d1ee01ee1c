"""The metrics declared in conf/study.yaml: which way is better, the main one, their ranges.

Every check here reads the study's own declarations, so it holds for any task: the demo's
accuracy or a regression's RMSE.
"""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from study_machinery import contract
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import (
    METHOD,
    NO_CLEAR_DIFFERENCE,
    Better,
    Metric,
    check_reported,
    load_study,
    variants,
)
from study_machinery.report import figure, latex, tables
from study_machinery.results.aggregate import IncompleteRunsError, collect, compare_with_method
from study_machinery.results.estimates import holm
from study_machinery.results.recorded import load
from study_machinery.runs.plan import plan

STUDY = load_study()
SMOKE = paths.results_dir("smoke")


def _study_with(tmp_path: Path, **changes) -> Path:
    """A copy of conf/ whose study.yaml has these top-level keys changed."""
    conf = tmp_path / "conf"
    shutil.copytree(paths.CONF_DIR, conf)
    settings = yaml.safe_load((conf / "study.yaml").read_text())
    (conf / "study.yaml").write_text(yaml.safe_dump(settings | changes))
    return conf


def test_every_recorded_metric_is_declared_and_the_main_one_comes_first():
    recorded = load(SMOKE)
    assert set(json.loads((SMOKE / "metrics.json").read_text())[METHOD]) == set(STUDY.metrics)
    assert recorded.metrics[0] == STUDY.main_metric


def test_a_tolerance_for_a_metric_no_run_reports_is_refused_before_any_run(tmp_path):
    misspelt = STUDY.main_metric[::-1] + "_typo"
    conf = _study_with(tmp_path, tolerance={misspelt: {"kind": "close", "abs_tol": 0.01}})
    with pytest.raises(StudyError, match=rf"a tolerance for '{misspelt}', which is not declared") as error:
        load_study(conf)
    assert len(str(error.value).splitlines()) == 1


def test_a_main_metric_that_is_not_declared_is_refused(tmp_path):
    conf = _study_with(tmp_path, main_metric="nowhere")
    with pytest.raises(StudyError, match=r"main_metric 'nowhere' is not declared under `metrics`"):
        load_study(conf)


@pytest.mark.parametrize("bounds", [[1, 0], [0], ["low", 1]], ids=str)
def test_a_range_that_is_not_low_then_high_is_refused(tmp_path, bounds):
    metrics = {name: {"better": "higher", "range": bounds} for name in STUDY.metrics}
    with pytest.raises(StudyError, match=r"a range is \[low, high\] with low < high"):
        load_study(_study_with(tmp_path, metrics=metrics))


def test_a_direction_other_than_higher_or_lower_is_refused(tmp_path):
    metrics = {name: {"better": "bigger"} for name in STUDY.metrics}
    with pytest.raises(StudyError, match=r"study.yaml: .*bigger"):
        load_study(_study_with(tmp_path, metrics=metrics))


def test_runs_must_report_exactly_the_declared_metrics():
    declared = list(STUDY.metrics)
    check_reported(STUDY, declared, "run")
    with pytest.raises(StudyError, match=r"run reports extra_score, not declared under `metrics`"):
        check_reported(STUDY, [*declared, "extra_score"], "run")
    with pytest.raises(StudyError, match=rf"run does not report {declared[-1]}, declared"):
        check_reported(STUDY, declared[:-1], "run")


@pytest.mark.parametrize(
    ("better", "low", "high", "verdict"),
    [
        ("higher", 0.01, 0.03, "better"),
        ("higher", -0.03, -0.01, "worse"),
        ("lower", 0.01, 0.03, "worse"),
        ("lower", -0.03, -0.01, "better"),
        ("lower", -0.01, 0.02, NO_CLEAR_DIFFERENCE),
        ("higher", 0.0, 0.02, NO_CLEAR_DIFFERENCE),
    ],
)
def test_a_verdict_reads_the_difference_in_the_metrics_direction(better, low, high, verdict):
    assert Metric(better=Better(better)).verdict(low, high) == verdict


def test_the_recorded_verdicts_follow_the_declared_directions():
    comparisons = json.loads((SMOKE / "comparisons.json").read_text())
    for by_metric in comparisons.values():
        for metric, by_test in by_metric.items():
            for entry in by_test.values():
                expected = STUDY.metrics[metric].verdict(entry["ci_low"], entry["ci_high"])
                assert entry["verdict"] == expected


def test_holm_runs_over_the_main_metric_apart_from_the_secondary_ones():
    comparisons = json.loads((SMOKE / "comparisons.json").read_text())
    for test in ("paired", "welch"):
        for family in ("main", "secondary"):
            members = [
                by_test[test]
                for by_metric in comparisons.values()
                for metric, by_test in by_metric.items()
                if (metric == STUDY.main_metric) == (family == "main")
            ]
            assert all(entry["family"] == family for entry in members)
            raw = [entry["p_value"] for entry in members]
            assert [entry["p_holm"] for entry in members] == pytest.approx(holm(raw))


def test_the_tables_say_which_way_is_better_and_which_metric_is_secondary():
    recorded = load(SMOKE)
    text = tables.markdown(recorded, "the split")
    for metric in recorded.metrics:
        arrow = "↑" if STUDY.metrics[metric].better is Better.higher else "↓"
        secondary = " (secondary)" if metric != STUDY.main_metric else ""
        assert f"| {metric} {arrow}{secondary} |" in text
    assert f"The main metric is {STUDY.main_metric}" in text
    assert "↑: higher is better; ↓: lower is better." in text
    other, by_metric = next(iter(recorded.comparisons.items()))
    verdict = by_metric[STUDY.main_metric]["paired"]["verdict"]
    assert any(line.startswith(f"| {other} |") and f"| {verdict} |" in line for line in text.splitlines())
    latex_table = tables.latex_results(recorded, "the split")
    for metric in recorded.metrics:
        arrow = r"$\uparrow$" if STUDY.metrics[metric].better is Better.higher else r"$\downarrow$"
        assert f"{latex.escape(metric)} {arrow}" in latex_table


def _far_off(recorded, metric: str, factor: float):
    """The result with its last variant's scores moved far from the others (a chance-level model),
    the metric's range lifted so that the move stays inside it."""
    unbounded = {**STUDY.metrics, metric: Metric(better=STUDY.metrics[metric].better)}
    recorded = replace(recorded, study=replace(STUDY, metrics=unbounded))
    far = list(recorded.summary)[-1]
    stats = recorded.summary[METHOD][metric]
    span = max(stats["ci_high"] - stats["ci_low"], 1e-3)
    shift = factor * span * 10
    summary = json.loads(json.dumps(recorded.summary))
    for key in ("mean", "ci_low", "ci_high"):
        summary[far][metric][key] -= shift
    runs = [
        {**run, metric: str(float(run[metric]) - shift)} if run["variant"] == far else run
        for run in recorded.runs
    ]
    return replace(recorded, summary=summary, runs=runs), far


def test_a_far_off_variant_is_drawn_at_the_axis_edge_and_named_in_the_caption(tmp_path):
    recorded = load(SMOKE)
    metric = STUDY.main_metric
    _, off = figure.on_axis(recorded, metric)
    assert off == [], "the smoke tier's variants share one axis"
    moved, far = _far_off(recorded, metric, factor=50)
    (low, _), off = figure.on_axis(moved, metric)
    assert off == [far]
    assert low > moved.summary[far][metric]["mean"], "the axis does not stretch to the far-off variant"
    drawn = figure.draw(moved, "the split")
    # The caption (wrapped over lines) names it, and its mean stands at the edge of its panel.
    captions = [text.get_text().replace("\n", " ") for text in drawn.texts]
    assert any(
        f"drawn as an arrow at the axis's edge with its mean: {far} in {metric}, " in c for c in captions
    )
    mean = f"{moved.summary[far][metric]['mean']:.4g}"
    assert mean in [text.get_text() for ax in drawn.axes for text in ax.texts]


def test_intervals_are_kept_inside_the_declared_range():
    bounded = Metric(better=Better.higher, range=[0, 1])
    assert (bounded.clip(-0.2), bounded.clip(0.5), bounded.clip(1.3)) == (0, 0.5, 1)
    assert Metric(better=Better.lower).clip(-5.0) == -5.0, "no range, no bound"
    for metric in STUDY.metrics:
        assert STUDY.bounds(metric) == STUDY.metrics[metric].range


def _runs(tmp_path: Path, scores: dict[str, dict[int, float]]) -> Path:
    """Finished runs under tmp_path: every declared metric gets the same score."""
    for variant, by_seed in scores.items():
        for seed, score in by_seed.items():
            folder = paths.run_dir(tmp_path, variant, seed)
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps(dict.fromkeys(STUDY.metrics, score)))
            run = {"seconds": 1.0, "cpu_cores_used": 1, "gpus_used": 0, "where": {"host": "here"}}
            (folder / "run.json").write_text(json.dumps(run))
    return tmp_path


def test_a_run_that_did_not_finish_stops_the_result_unless_left_out_by_a_decision(tmp_path):
    other = next(name for name in variants() if name != METHOD)
    runs = _runs(tmp_path, {METHOD: {0: 0.5, 1: 0.6, 2: 0.7}, other: {0: 0.4, 2: 0.5}})
    with pytest.raises(IncompleteRunsError, match=r"seed_1.*left out only by a decision recorded"):
        collect(runs, [METHOD, other], [0, 1, 2])
    rows = collect(runs, [METHOD, other], [0, 1, 2], frozenset({(other, 1)}))
    comparisons = compare_with_method(rows, [METHOD, other], STUDY)
    paired = comparisons[other][STUDY.main_metric]["paired"]
    # Paired over seeds 0 and 2, the ones both kept: differences -0.1 and -0.2.
    assert paired["difference"] == pytest.approx(-0.15)
    assert paired["df"] == 1.0


def _excluding(tmp_path: Path, tier: str, excluded: list[dict]) -> Path:
    """conf/ with these runs excluded, and one seed more in the tier, so that its variants keep two."""
    settings = yaml.safe_load((paths.CONF_DIR / "study.yaml").read_text())
    tiers = settings["tiers"]
    tiers[tier] = {**tiers[tier], "seeds": [*tiers[tier]["seeds"], max(tiers[tier]["seeds"]) + 1]}
    return _study_with(tmp_path, tiers=tiers, excluded=excluded)


def test_an_exclusion_must_name_a_run_the_study_has_and_say_why(tmp_path):
    seed = STUDY.tiers["smoke"].seeds[0]
    entry = {"tier": "smoke", "variant": METHOD, "seed": seed, "why": "its split is degenerate"}
    assert load_study(_excluding(tmp_path / "good", "smoke", [entry])).left_out("smoke")[0].seed == seed
    cases = {
        "the tier has no such seed": {**entry, "seed": 2**31},
        "there is no conf/variant/nowhere.yaml": {**entry, "variant": "nowhere"},
        "say why": {**entry, "why": " "},
        "keeps fewer than two seeds in common": {**entry, "seed": STUDY.tiers["smoke"].seeds[1]},
    }
    for index, (message, bad) in enumerate(cases.items()):
        with pytest.raises(StudyError, match=message):
            load_study(_excluding(tmp_path / str(index), "smoke", [entry, bad]))


def test_a_run_left_out_is_not_planned_and_every_caption_names_it(tmp_path):
    other = next(name for name in variants() if name != METHOD)
    seed = STUDY.tiers["smoke"].seeds[0]
    entry = {"tier": "smoke", "variant": other, "seed": seed, "why": "its split is degenerate"}
    conf = _excluding(tmp_path, "smoke", [entry])
    contract.register_configs()
    planned = {(run.variant, run.seed) for run in plan("smoke", tmp_path / "runs", conf)}
    assert (other, seed) not in planned and (METHOD, seed) in planned
    recorded = replace(load(SMOKE), study=load_study(conf))
    named = (
        "Left out by a decision recorded in conf/study.yaml (1 run): "
        f"{other} seed {seed} (its split is degenerate)."
    )
    assert named in tables.results_caption(recorded, "the split")
    assert named in tables.differences_caption(recorded)


def test_every_setting_the_pipeline_reads_must_be_in_study_yaml(tmp_path):
    """dvc.yaml's stages read these keys from conf/study.yaml itself, not from the schema's
    defaults: so none has a default, and one left out is named before DVC would fail on it."""
    pipeline = yaml.safe_load((paths.ROOT / "dvc.yaml").read_text())
    read = {"main_tier", "tiers"}  # its `vars` and `foreach`
    for stage in pipeline["stages"].values():
        for entry in stage.get("do", stage).get("params", []):
            read |= set(entry.get("conf/study.yaml", [])) if isinstance(entry, dict) else set()
    for key in sorted(read):
        conf = tmp_path / key
        shutil.copytree(paths.CONF_DIR, conf)
        settings = yaml.safe_load((conf / "study.yaml").read_text())
        del settings[key]
        (conf / "study.yaml").write_text(yaml.safe_dump(settings))
        with pytest.raises(StudyError, match=rf"study.yaml lacks `{key}`: add it back"):
            load_study(conf)
