"""The trackers' settings, checked before any run, and a tracker that fails never costing a result."""

import json

import pytest
import yaml

from study_machinery import contract, tracking
from study_machinery.core import epochs, paths
from study_machinery.core.errors import StudyError
from study_machinery.runs import attempt
from study_machinery.tracking import dvclive_run
from study_machinery.tracking import settings as tracking_settings


def test_the_study_s_tracking_file_loads():
    written = yaml.safe_load((paths.CONF_DIR / "tracking.yaml").read_text())
    assert [tracker.value for tracker in tracking_settings.load().trackers] == written["trackers"]


def test_a_tracking_file_that_is_not_settings_is_named(tmp_path):
    path = tmp_path / "tracking.yaml"
    path.write_text("trackers mlflow\n")
    with pytest.raises(StudyError, match=f"{path} should hold settings"):
        tracking_settings.load(path)


def test_study_tracking_off_does_not_even_read_the_file(tmp_path, monkeypatch):
    path = tmp_path / "tracking.yaml"
    path.write_text("trackers: [mlfow]\n")
    monkeypatch.setattr(paths, "TRACKING_FILE", path)
    monkeypatch.setenv(tracking_settings.SWITCH, "off")
    assert tracking_settings.active().trackers == []


def test_a_tracker_that_failed_is_passed_on_to_the_processes_a_tier_starts(monkeypatch, capsys):
    monkeypatch.setattr(tracking, "_failed", set())
    monkeypatch.setenv(tracking.FAILED, "")  # and as it was after the test
    tracking._warn(tracking_settings.Tracker.mlflow, "no server")
    tracking._warn(tracking_settings.Tracker.mlflow, "no server")
    assert capsys.readouterr().err.count("warning: tracker mlflow: no server") == 1
    assert tracking.os.environ[tracking.FAILED] == "mlflow"
    # A worker process: its own set is empty, the environment says.
    monkeypatch.setattr(tracking, "_failed", set())
    assert tracking.failed() == {tracking_settings.Tracker.mlflow}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"trackers": ["mlfow"]}, "Invalid value 'mlfow'"),
        ({"mlflow": {"tracking_url": "sqlite:///x.db"}}, "Key 'tracking_url' not in 'MLflowSettings'"),
        ({"wandb": {"mode": "onlin"}}, "Invalid value 'onlin'"),
    ],
)
def test_a_mistake_in_the_tracking_file_is_named(tmp_path, content, message):
    path = tmp_path / "tracking.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(StudyError, match=f"{path}: .*{message}"):
        tracking_settings.load(path)


def test_study_tracking_off_turns_every_tracker_off(tmp_path, monkeypatch):
    path = tmp_path / "tracking.yaml"
    path.write_text(yaml.safe_dump({"trackers": ["dvclive", "mlflow", "wandb"]}))
    monkeypatch.setattr(paths, "TRACKING_FILE", path)
    monkeypatch.setenv(tracking_settings.SWITCH, "on")
    assert len(tracking_settings.active().trackers) == 3
    monkeypatch.setenv(tracking_settings.SWITCH, "off")
    assert tracking_settings.active().trackers == []


def test_a_failing_tracker_is_named_and_the_run_recorded_all_the_same(
    tmp_path, monkeypatch, capsys, planned_run
):
    # MLflow cannot create its store under a file: whether it is installed here or not, it fails.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    path = tmp_path / "tracking.yaml"
    settings = {"trackers": ["mlflow"], "mlflow": {"tracking_uri": f"sqlite:///{blocker}/mlflow.db"}}
    path.write_text(yaml.safe_dump(settings))
    monkeypatch.setattr(paths, "TRACKING_FILE", path)
    monkeypatch.setattr(tracking, "_failed", set())
    monkeypatch.setenv(tracking.FAILED, "")
    monkeypatch.setenv(tracking_settings.SWITCH, "on")

    real = contract.run

    def reports_one_epoch(config, folder, on_epoch):
        # The research code's run, but for its epochs: a study's own may report none at all.
        on_epoch(1, {"train_loss": 0.5})
        return real(config, folder, lambda epoch, scores: None)

    monkeypatch.setattr(contract, "run", reports_one_epoch)
    planned_run.tier = "smoke"
    outcome = attempt.execute(planned_run)
    assert outcome.error is None
    assert json.loads((planned_run.folder / "metrics.json").read_text())
    assert epochs.read(planned_run.folder / paths.EPOCHS) == [{"epoch": 1, "train_loss": 0.5}]
    assert "warning: tracker mlflow: " in capsys.readouterr().err
    assert "tracker mlflow: " in (planned_run.folder / "run.log").read_text()


def test_the_dvclive_index_lists_each_run_that_logged_relative_to_itself(tmp_path):
    runs, results = tmp_path / "runs/small", tmp_path / "results/small"
    results.mkdir(parents=True)
    folders = [
        paths.run_dir(runs, variant, 0) for variant in ("proposed", "ablation/without_it", "baseline/other")
    ]
    for folder in folders[:2]:
        (folder / "dvclive/plots/metrics").mkdir(parents=True)
        (folder / "dvclive/metrics.json").write_text("{}")
        (folder / "dvclive/plots/metrics/test_accuracy.tsv").write_text("step\ttest_accuracy\n1\t0.5\n")
    dvclive_run.index(results, folders)
    index = yaml.safe_load((results / "dvc.yaml").read_text())
    assert index["metrics"] == [
        "../../runs/small/proposed/seed_0/dvclive/metrics.json",
        "../../runs/small/ablation/without_it/seed_0/dvclive/metrics.json",
    ]
    tsv = "dvclive/plots/metrics/test_accuracy.tsv"
    lines = {
        f"../../runs/small/{run}/seed_0/{tsv}": "test_accuracy" for run in ("proposed", "ablation/without_it")
    }
    assert index["plots"] == [{"small: test_accuracy": {"x": "step", "y": lines}}]
    dvclive_run.index(results, folders[2:])
    assert not (results / "dvc.yaml").exists(), "no run logged with DVCLive: no index"
