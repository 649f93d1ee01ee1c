"""Per-epoch records and the learning curves drawn from them."""

import dataclasses
import json

import numpy
import pytest

from study_machinery.core import epochs, paths
from study_machinery.core.study import load_study
from study_machinery.report import curves as curves_figure
from study_machinery.report import readme
from study_machinery.results import curves
from study_machinery.results.recorded import load


def test_a_resumed_run_records_each_epoch_once_and_forwards_each(tmp_path):
    forwarded = []
    first = epochs.Recorder(tmp_path)
    for epoch in (1, 2, 3):
        first(epoch, {"train_loss": 1.0 / epoch})
    # Stopped after epoch 3, resumed from the checkpoint of epoch 2: epoch 3 is reported again.
    resumed = epochs.Recorder(tmp_path, forward=lambda epoch, scores: forwarded.append(epoch))
    resumed(3, {"train_loss": 0.25})
    resumed(4, {"train_loss": 0.2})
    assert epochs.read(tmp_path / paths.EPOCHS) == [
        {"epoch": 1, "train_loss": 1.0},
        {"epoch": 2, "train_loss": 0.5},
        {"epoch": 3, "train_loss": 0.25},
        {"epoch": 4, "train_loss": 0.2},
    ]
    # The trackers get a run of their own for the resumed attempt: the epochs it kept come first.
    assert forwarded == [1, 2, 3, 4]


def test_a_resumed_attempt_with_no_epoch_left_to_train_still_gives_the_trackers_its_epochs(tmp_path):
    first = epochs.Recorder(tmp_path)
    for epoch in (1, 2):
        first(epoch, {"train_loss": 1.0 / epoch})
    forwarded = []
    resumed = epochs.Recorder(tmp_path, forward=lambda epoch, scores: forwarded.append(epoch))
    resumed.close()  # it resumed after the last epoch: nothing was reported
    assert forwarded == [1, 2]


def test_a_diverged_score_is_kept_as_null_and_left_out_of_the_curves(tmp_path):
    for seed, loss in enumerate([0.5, 0.7, float("nan")]):
        folder = paths.run_dir(tmp_path, "proposed", seed)
        folder.mkdir(parents=True)
        epochs.Recorder(folder)(1, {"train_loss": loss, "train_accuracy": 0.9})
    assert epochs.read(paths.run_dir(tmp_path, "proposed", 2) / paths.EPOCHS)[0]["train_loss"] is None
    rows = {row["score"]: row for row in curves.summarise(tmp_path, ["proposed"], [0, 1, 2])}
    assert rows["train_loss"]["n"] == 2 and rows["train_loss"]["mean"] == pytest.approx(0.6)
    assert rows["train_accuracy"]["n"] == 3
    assert "fewer seeds have a score" in curves_figure.caption("the split", [], fewer=True)


def test_an_epoch_given_as_numpy_s_int_is_recorded(tmp_path):
    epochs.Recorder(tmp_path)(numpy.int64(1), {"train_loss": numpy.float32(0.5)})
    assert epochs.read(tmp_path / paths.EPOCHS) == [{"epoch": 1, "train_loss": 0.5}]


@pytest.mark.parametrize(
    ("epoch", "scores", "message"),
    [
        (0, {"train_loss": 1.0}, "the epoch must be an int from 1 on, not 0"),
        (1.5, {"train_loss": 1.0}, "the epoch must be an int from 1 on, not 1.5"),
        (1, {"train_loss": "low"}, "score 'train_loss' of epoch 1 is not a number: 'low'"),
        (1, {"epoch": 3.0}, "a score may not be named 'epoch'"),
    ],
)
def test_on_epoch_refuses_what_it_cannot_record(tmp_path, epoch, scores, message):
    with pytest.raises(TypeError, match=message):
        epochs.Recorder(tmp_path)(epoch, scores)


def test_a_hand_edited_epochs_file_is_named(tmp_path):
    path = tmp_path / paths.EPOCHS
    path.write_text(json.dumps([{"epoch": 1, "train_loss": "low"}]))
    with pytest.raises(epochs.EpochsError, match=f"{path} should be a list of epochs"):
        epochs.read(path)


def _write_epochs(runs, variant, seed, values):
    folder = paths.run_dir(runs, variant, seed)
    folder.mkdir(parents=True)
    records = [{"epoch": epoch, "test_accuracy": value} for epoch, value in enumerate(values, start=1)]
    (folder / paths.EPOCHS).write_text(json.dumps(records))


def test_the_curves_are_the_mean_over_seeds_with_a_t_interval_and_leave_out_models_without_epochs(tmp_path):
    for seed, values in enumerate([(0.5, 0.90), (0.6, 0.92), (0.7, 0.94)]):
        _write_epochs(tmp_path, "proposed", seed, values)
        paths.run_dir(tmp_path, "baseline/other", seed).mkdir(parents=True)
    rows = curves.summarise(tmp_path, ["proposed", "baseline/other"], [0, 1, 2])
    assert [(row["variant"], row["score"], row["epoch"]) for row in rows] == [
        ("proposed", "test_accuracy", 1),
        ("proposed", "test_accuracy", 2),
    ]
    # Epoch 2: mean 0.92, std 0.02, se 0.02 / sqrt(3) = 0.011547; t(0.975, 2) = 4.3027 -> +-0.049683.
    assert rows[1] == pytest.approx(
        {
            "variant": "proposed",
            "score": "test_accuracy",
            "epoch": 2,
            "mean": 0.92,
            "std": 0.02,
            "se": 0.011547,
            "ci_low": 0.870317,
            "ci_high": 0.969683,
            "n": 3,
        },
        abs=1e-6,
    )
    curves.write_table(rows, tmp_path / "curves.csv")
    assert curves.read_table(tmp_path / "curves.csv")[1]["ci_high"] == pytest.approx(0.969683, abs=1e-6)


def test_a_study_without_per_epoch_scores_says_so_under_its_table():
    study = load_study()
    recorded = dataclasses.replace(load(paths.results_dir(study.main_tier), study.main_tier), curves=[])
    figure = curves_figure.draw(recorded, study.seeds_vary)
    # Per what the research code counts (conf/study.yaml's curves.x): epochs, boosting rounds...
    each = f"per-{study.curves.x}"
    assert f"No variant reports {each} scores." in [text.get_text() for text in figure.texts]
    section = readme.section_of(recorded, study.seeds_vary)
    assert section.endswith(f"No variant reports {each} scores, so there are no learning curves.")
    assert "curves.png" not in section
