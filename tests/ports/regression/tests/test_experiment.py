"""Your experiment: one run works on a smoke setting, its seed decides everything, the
ablation drops what it says, and a mistake in a config fails at compose time."""

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from digits_study import experiment, prepare
from digits_study.config import GradientBoostingConfig
from digits_study.data import kept_columns, load_prepared, split
from digits_study.experiment import METRICS, run


@pytest.fixture
def smoke_config(compose_config, smoke_overrides):
    def _config(*overrides: str):
        return OmegaConf.to_object(compose_config(*smoke_overrides, *overrides))

    return _config


def test_the_prepared_data_is_the_diabetes_table(prepared_data):
    features, target, columns = load_prepared(prepared_data)
    assert features.shape == (442, 10) and target.shape == (442,)
    assert columns == list(prepare.COLUMNS)
    # In their original units: ages in years, progression from 25 to 346.
    assert features[:, 0].min() >= 19 and features[:, 0].max() <= 79
    assert (target.min(), target.max()) == (25.0, 346.0)


def test_a_run_returns_every_metric(smoke_config):
    metrics = run(smoke_config())
    assert set(metrics) == set(METRICS)
    assert metrics["rmse"] > 0 and metrics["r2"] <= 1


@pytest.mark.parametrize("variant", ["proposed", "baseline/ridge"])
def test_the_models_beat_the_mean_predictor_even_at_the_smoke_scale(smoke_config, variant):
    mean = run(smoke_config("variant=baseline/mean"))
    model = run(smoke_config(f"variant={variant}"))
    assert model["rmse"] < mean["rmse"] and model["r2"] > mean["r2"]
    # The mean of the training split is not the test split's: slightly worse than explaining nothing.
    assert mean["r2"] <= 0.0


def test_the_same_seed_gives_identical_metrics(smoke_config):
    assert run(smoke_config("seed=0")) == run(smoke_config("seed=0"))


def test_different_seeds_give_different_metrics(smoke_config):
    assert run(smoke_config("seed=0")) != run(smoke_config("seed=1"))


def test_the_seed_also_draws_the_boosting_subsamples(smoke_config, monkeypatch):
    """Not only the split: with the split held fixed, another seed fits other trees."""
    fixed = lambda x, y, data, seed, scored_on: split(x, y, data, 0, scored_on)  # noqa: E731
    monkeypatch.setattr(experiment, "split", fixed)
    assert run(smoke_config("seed=0")) != run(smoke_config("seed=1"))


def test_each_round_is_reported_and_changes_nothing(smoke_config):
    """The learning curves' records: every boosting round once, in order, and the same metrics."""
    config, reported = smoke_config(), []
    metrics = run(config, on_epoch=lambda epoch, scores: reported.append((epoch, scores)))
    assert [epoch for epoch, _ in reported] == list(range(1, config.boosting.n_estimators + 1))
    assert all(set(scores) == {"train_rmse", "test_rmse"} for _, scores in reported)
    # The last round's test RMSE is the run's: the same trees scored on the same patients.
    assert reported[-1][1]["test_rmse"] == pytest.approx(metrics["rmse"], rel=1e-12)
    # Each round fits the training rows a little better.
    train = [scores["train_rmse"] for _, scores in reported]
    assert train[-1] < train[0]
    assert metrics == run(config)


def test_the_baselines_report_no_rounds(smoke_config):
    reported = []
    for variant in ("baseline/mean", "baseline/ridge"):
        run(smoke_config(f"variant={variant}"), on_epoch=lambda epoch, scores: reported.append(epoch))
    assert reported == []


def test_the_ablation_drops_the_serum_measurements_and_nothing_else(smoke_config):
    columns = list(prepare.COLUMNS)
    ablation, proposed = smoke_config("variant=ablation/no_serum"), smoke_config()
    kept = kept_columns(columns, ablation.data, ablation.features)
    assert [columns[index] for index in kept] == ["age", "sex", "bmi", "bp"]
    assert kept_columns(columns, proposed.data, proposed.features) == list(range(len(columns)))


def test_dropping_a_group_the_data_does_not_have_is_refused(smoke_config):
    with pytest.raises(ValueError, match=r"features.drop names \['lipids'\]"):
        run(smoke_config("features.drop=[lipids]"))


def test_missing_data_says_how_to_restore_it(smoke_config):
    with pytest.raises(FileNotFoundError, match="dvc repro prepare"):
        run(smoke_config("data.path=data/nowhere"))


def test_missing_raw_data_names_the_command_that_restores_it(tmp_path, capsys):
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    raw.mkdir()
    (raw / prepare.FEATURES_FILE).write_text("")
    assert prepare.main([str(raw), str(prepared)]) == 1
    restore = f"restore it with `uv run dvc checkout {raw}.dvc`"
    assert f"error: {raw / prepare.TARGET_FILE} missing: {restore}" in capsys.readouterr().err
    assert not prepared.exists()


def test_the_proposed_method_is_gradient_boosting(compose_config):
    assert isinstance(OmegaConf.to_object(compose_config()).model, GradientBoostingConfig)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.max_dept=3", "Key 'max_dept' not in 'GradientBoostingConfig'"),
        ("boosting.n_estimators=many", "Value 'many' of type 'str' could not be converted to Integer"),
        ("preprocessing.scaler=minmax", "Invalid value 'minmax'"),
        ("seeed=1", "Key 'seeed' not in 'Config'"),
    ],
)
def test_a_mistake_fails_at_compose_time(compose_config, override, message):
    with pytest.raises(ConfigCompositionException) as error:
        compose_config(override)
    assert message in str(error.value) + str(error.value.__cause__)


def test_scored_on_validation_a_run_never_reads_the_test_split(smoke_config, monkeypatch):
    """With every test patient's measurements zeroed, a run scored on validation (a search's
    trial) gives the same scores, bit for bit; one scored on the test split does not."""
    import numpy as np

    from digits_study.config import ScoredOn

    config = smoke_config("scored_on=validation")
    features, target, columns = load_prepared(config.data.path)
    rows = np.arange(len(target)).reshape(-1, 1)
    test_rows = split(rows, target, config.data, config.seed, ScoredOn.test)[1].ravel()
    blanked = features.copy()
    blanked[test_rows] = 0
    validation, test = run(config), run(smoke_config("scored_on=test"))
    monkeypatch.setattr(experiment, "load_prepared", lambda path: (blanked, target, columns))
    assert run(config) == validation
    assert run(smoke_config("scored_on=test")) != test
