"""The hyperparameter search: fair budgets, trials that are runs, the validation split, the record.

Each search here runs the study's own research code at the smoke scale, on a copy of conf/ whose
search is cut to two trials, and writes its trials and results into a temporary folder: the
study's own results, runs and conf/tuned/ are never touched.
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from study_machinery import contract
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, load_study, variants
from study_machinery.runs.plan import compose, composing
from study_machinery.search import ledger
from study_machinery.search.settings import (
    budgets,
    how_chosen,
    read_search,
    refuse_missing_choices,
    spaces,
    unequal_budgets,
)
from study_machinery.search.space import read_space
from study_machinery.search.tune import tune

TIER = "smoke"
BASELINES = [name for name in variants() if name.startswith("baseline/")]


def edit_study(conf: Path, change) -> None:
    study = yaml.safe_load((conf / "study.yaml").read_text())
    change(study)
    (conf / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))


def with_overrides(scale: Path, overrides: list[str]) -> None:
    """The scale's file, setting what the overrides set (`data.path=...`): a trial's runs then
    read what the contract's smoke_overrides give, the data a fresh clone has."""
    content = yaml.safe_load(scale.read_text()) or {}
    for override in overrides:
        key, _, value = override.partition("=")
        if key == "scale":
            continue
        *parents, last = key.split(".")
        node = content
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(value)
    scale.write_text("# @package _global_\n" + yaml.safe_dump(content, sort_keys=False))


@pytest.fixture
def conf(tmp_path, monkeypatch, smoke_overrides) -> Path:
    """A copy of conf/ with a search of two trials at smoke, proposed two at a time."""
    copied = tmp_path / "conf"
    shutil.copytree(paths.CONF_DIR, copied, ignore=shutil.ignore_patterns(paths.TUNED))
    with_overrides(copied / "scale" / f"{TIER}.yaml", smoke_overrides)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(paths, "TRIALS_DIR", tmp_path / "trials")

    def smaller(study):
        study["search"]["trials"][TIER] = 2
        study["search"]["batch"] = 2
        study["tiers"][TIER]["executor"] = "basic"

    edit_study(copied, smaller)
    contract.register_configs()
    return copied


def tuned(conf: Path) -> list[str]:
    """The variants the smoke search tunes, the method first."""
    return [
        name for name, trials in budgets(read_search(load_study(conf), conf), TIER, conf).items() if trials
    ]


def ledgers() -> dict[str, bytes]:
    folder = paths.results_dir(TIER) / paths.SEARCH
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*.json"))}


def test_the_study_tunes_its_method_and_each_baseline_with_the_same_budget_or_a_declared_one():
    search = read_search(load_study())
    declared = {entry.variant: entry for entry in search.unequal}
    assert METHOD in spaces() and METHOD not in declared, "the method is tuned with the budget all share"
    for tier in search.trials:
        budget = budgets(search, tier)
        for name in [METHOD, *BASELINES]:
            expected = declared[name].trials.get(tier, 0) if name in declared else search.trials[tier]
            assert budget[name] == expected, f"{name} at {tier}"


def test_a_search_tunes_on_the_validation_split_and_writes_its_choices(conf):
    searched = tune(TIER, conf_dir=conf)
    assert [item.variant for item in searched] == tuned(conf) and len(tuned(conf)) >= 2
    study = load_study(conf)
    for item in searched:
        record = json.loads(paths.ledger_file(TIER, item.variant).read_text())
        assert record["budget"] == 2 and len(record["trials"]) == 2
        assert record["seeds"] == study.tiers[TIER].seeds and record["scored_on"] == "validation"
        for row, trial in zip(record["trials"], item.trials, strict=True):
            assert set(row["scores"]) == {str(seed) for seed in study.tiers[TIER].seeds}
            for run_ in trial.runs:
                config = json.loads((run_.folder / paths.RUN_RECORD).read_text())["config"]
                # The test split is never scored on during a search: every trial's run says so.
                assert config["scored_on"] == "validation"
                for key, value in row["values"].items():
                    node = config
                    for part in key.split("."):
                        node = node[part]
                    assert node == value, f"{key} of trial {row['trial']} did not reach its run"
        chosen = yaml.safe_load(paths.tuned_file(TIER, item.variant, conf).read_text())
        assert chosen is not None and paths.journal_file(TIER, item.variant).is_file()
    line = ledger.summary(TIER, METHOD)
    assert line.startswith(f"search@{TIER}: {METHOD} chose trial ") and "mean validation" in line
    # What every caption and the checklist say of it, declared unequal budgets included.
    search = read_search(study, conf)
    said = how_chosen(study, TIER, conf)
    assert said.startswith(f"Hyperparameters: chosen for {', '.join(tuned(conf))} by a search at this tier")
    assert f"{search.trials[TIER]} trials each" in said and "validation" in said
    for entry in search.unequal:
        assert "Unequal budgets, declared: " in said and entry.variant in said
    # The main result reads the choices (conf/config.yaml's defaults list), on the test split.
    method = json.loads(paths.ledger_file(TIER, METHOD).read_text())["chosen"]
    with composing(conf):
        config = compose([f"scale={TIER}", f"variant={METHOD}"], "the method")
    for key, value in method["values"].items():
        node = config
        for part in key.split("."):
            node = node[part]
        assert (list(node) if isinstance(value, list) else node) == value
    assert getattr(config.scored_on, "value", config.scored_on) == "test"
    method_choice = yaml.safe_load(paths.tuned_file(TIER, METHOD, conf).read_text())
    for ablation in (name for name in variants(conf) if name.startswith("ablation/")):
        ablation_choice = yaml.safe_load(paths.tuned_file(TIER, ablation, conf).read_text())
        assert ablation_choice == method_choice, "an ablation takes the method's choice"


def test_a_killed_search_resumes_and_executes_only_the_runs_not_done(conf, monkeypatch):
    real, calls = contract.run, []

    def killed_on_the_fifth(config, folder, on_epoch):
        calls.append(folder)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(config, folder, on_epoch)

    monkeypatch.setattr(contract, "run", killed_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        tune(TIER, conf_dir=conf)
    assert not ledgers(), "no ledger from a search that did not end"
    monkeypatch.setattr(contract, "run", lambda *args: calls.append(args[1]) or real(*args))
    calls.clear()
    tune(TIER, conf_dir=conf)
    runs = len(load_study(conf).tiers[TIER].seeds) * 2 * len(tuned(conf))
    assert len(calls) == runs - 4, "the four runs that finished before the kill are not run again"
    resumed = ledgers()
    calls.clear()
    tune(TIER, conf_dir=conf)
    assert calls == [] and ledgers() == resumed, "a search with nothing changed runs and rewrites nothing"
    # The same ledger as a search never interrupted: the sampler proposed the same trials.
    shutil.rmtree(paths.TRIALS_DIR)
    shutil.rmtree(paths.results_dir(TIER))
    tune(TIER, conf_dir=conf)
    assert ledgers() == resumed


def test_the_choice_is_the_same_with_one_worker_and_with_two(conf):
    """One worker: this process, one run after another (basic); two: worker processes (cores)."""
    tune(TIER, "basic", conf_dir=conf)
    one = ledgers()
    shutil.rmtree(paths.TRIALS_DIR)
    shutil.rmtree(paths.results_dir(TIER))
    tune(TIER, "cores", ["executor.workers=2"], conf_dir=conf)
    assert ledgers() == one


def test_a_baseline_tuned_less_than_the_method_is_refused_unless_declared(conf):
    baseline = next(name for name in tuned(conf) if name != METHOD)
    paths.space_file(baseline, conf).unlink()
    with pytest.raises(
        StudyError, match=rf"{baseline} is not searched .* while {METHOD} has 2: a comparison is fair"
    ):
        read_search(load_study(conf), conf)

    def declared(why):
        def change(study):
            others = [entry for entry in study["search"]["unequal"] if entry["variant"] != baseline]
            study["search"]["unequal"] = [*others, {"variant": baseline, "trials": {TIER: 0}, "why": why}]

        return change

    edit_study(conf, declared(""))
    with pytest.raises(StudyError, match="say why"):
        read_search(load_study(conf), conf)
    edit_study(conf, declared("it has no hyperparameter left to tune"))
    assert budgets(read_search(load_study(conf), conf), TIER, conf)[baseline] == 0
    # Every caption and the checklist name it, with its why.
    said = unequal_budgets(load_study(conf), TIER, conf)
    assert said.startswith(" Unequal budgets, declared: ") and baseline in said
    assert "it has no hyperparameter left to tune" in said


def test_an_ablation_is_not_searched(conf):
    ablation = next(name for name in variants(conf) if name.startswith("ablation/"))
    paths.space_file(ablation, conf).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(paths.space_file(METHOD, conf), paths.space_file(ablation, conf))
    with pytest.raises(StudyError, match="an ablation is not searched"):
        read_search(load_study(conf), conf)


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ("{low: 1, high: 1}", "low < high"),
        ("{low: 1e-4, high: 1.0}", "1.0e-4, not 1e-4"),
        ("{low: 0.0, high: 1.0, log: true}", "a log range has low > 0"),
        ("{choices: [1]}", "two values or more"),
        ("{lo: 1, high: 2}", "a range is"),
        ("[1, 2]", "a range is"),
    ],
)
def test_a_range_that_breaks_the_rule_is_named_with_its_file_and_key(conf, spec, rule):
    paths.space_file(METHOD, conf).write_text(f"some.key: {spec}\n")
    with pytest.raises(StudyError, match=rf"conf/search/{METHOD}.yaml: some.key: .*{rule}"):
        read_space(METHOD, conf)


def test_a_variant_that_sets_a_searched_key_itself_is_named(conf, tmp_path):
    """Its own file comes after the choice, so the choice would not be what runs."""
    key = read_space(METHOD, conf)[0].key
    tune(TIER, conf_dir=conf)
    variant_file = conf / "variant" / f"{METHOD}.yaml"
    content = yaml.safe_load(variant_file.read_text()) or {}
    node = content
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    chosen = json.loads(paths.ledger_file(TIER, METHOD).read_text())["chosen"]["values"][key]
    node[last] = chosen if not isinstance(chosen, (int, float)) or isinstance(chosen, bool) else chosen * 2
    variant_file.write_text("# @package _global_\n" + yaml.safe_dump(content, sort_keys=False))
    with pytest.raises(StudyError, match=rf"{METHOD}.yaml sets {key} itself"):
        tune(TIER, conf_dir=conf)


def test_a_variant_added_after_the_search_must_be_searched_before_its_tier_runs(conf):
    """Its runs, untuned, would be compared with tuned ones: the tier refuses, naming it."""
    tune(TIER, conf_dir=conf)
    refuse_missing_choices(load_study(conf), TIER, conf)  # every choice is there
    added = conf / "variant" / "ablation" / "added_after.yaml"
    added.write_text("# @package _global_\nvariant: ablation/added_after\n")
    with pytest.raises(
        StudyError, match=rf"tier {TIER} has no choice for ablation/added_after .*tune -- {TIER}"
    ):
        refuse_missing_choices(load_study(conf), TIER, conf)


def test_a_tier_without_a_search_says_which_have_one(conf):
    other = next(name for name in load_study(conf).tiers if name != TIER)
    with pytest.raises(StudyError, match=rf"tier {other} has no search: .*\({TIER}\)"):
        tune(other, conf_dir=conf)


def test_pruning_stops_a_trial_worse_than_the_best_on_the_same_seeds_and_says_so(conf, monkeypatch):
    """A stand-in for `run` whose main metric follows the first searched value alone (and a
    little the seed): a trial proposed after a better one is worse on every seed, so Wilcoxon's
    one-sided test stops it after four seeds (p = 1/16 < 0.1), and the ledger says it was."""
    study = load_study(conf)
    axis = read_space(METHOD, conf)[0]
    seeds = [0, 1, 2, 3, 4]

    def change(settings):
        settings["tiers"][TIER]["seeds"] = seeds
        settings["search"].update({"pruning": True, "prune_p": 0.1, "batch": 1})
        settings["search"]["trials"][TIER] = 6

    edit_study(conf, change)

    def share(config) -> float:
        """Where the trial's first searched value lies in its range, 0 to 1."""
        value = config
        for part in axis.key.split("."):
            value = getattr(value, part)
        if axis.choices is not None:
            return axis.choices.index(list(value) if isinstance(value, (list, tuple)) else value) / (
                len(axis.choices) - 1
            )
        return (value - axis.low) / (axis.high - axis.low)

    def stand_in(config, folder, on_epoch):
        metrics = {}
        for name, metric in study.metrics.items():
            low, high = metric.range
            base, width = (low or 0.0), ((high - low) / 2 if low is not None and high is not None else 1.0)
            better = share(config) if metric.better.value == "higher" else 1 - share(config)
            metrics[name] = base + width * (better * 0.9 + 0.01 * config.seed)
        return metrics

    monkeypatch.setattr(contract, "run", stand_in)
    tune(TIER, conf_dir=conf)
    record = json.loads(paths.ledger_file(TIER, METHOD).read_text())
    assert record["pruning"] == "Wilcoxon, one-sided, p < 0.1"
    best = None
    for row in record["trials"]:
        # A trial behind the best complete one before it (batch 1: one trial at a time) is stopped.
        behind = best is not None and share_of(row, axis) < best
        assert (row["state"] == "pruned") == behind, row
        assert len(row["scores"]) == (4 if behind else 5), "stopped after four seeds, or all five"
        if row["state"] == "complete":
            best = max(best or 0.0, share_of(row, axis))
    assert any(row["state"] == "pruned" for row in record["trials"]), "the stand-in makes some trial worse"
    assert record["chosen"]["trial"] in [
        row["trial"] for row in record["trials"] if row["state"] == "complete"
    ]


def share_of(row: dict, axis) -> float:
    value = row["values"][axis.key]
    if axis.choices is not None:
        return list(axis.choices).index(value) / (len(axis.choices) - 1)
    return (value - axis.low) / (axis.high - axis.low)


def test_a_choice_file_edited_by_hand_is_named_by_reproduce(tmp_path):
    """What reproduce's re-run of a search checks beside the ledgers: each committed choice file
    is the one the search writes, so a value typed in by hand (then recorded) cannot pass."""
    from study_machinery.checks.reproduce import edited_choices

    tuned = tmp_path / paths.TUNED / TIER
    (tuned / "baseline").mkdir(parents=True)
    same, edited = tuned / f"{METHOD}.yaml", tuned / "baseline" / "knn.yaml"
    committed = {same: "training:\n  learning_rate: 0.001\n", edited: "model:\n  n_neighbors: 3\n"}
    same.write_text(committed[same])
    edited.write_text("model:\n  n_neighbors: 5\n")  # what the search, run again, writes
    [choice] = edited_choices(committed, tuned)
    assert not choice.passed and choice.variant == f"baseline/knn ({paths.TUNED}/{TIER}/baseline/knn.yaml)"
    assert choice.name == f"the search's choice for baseline/knn ({paths.TUNED}/{TIER}/baseline/knn.yaml)"
