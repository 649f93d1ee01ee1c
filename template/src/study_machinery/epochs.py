"""A run's per-epoch scores: what the research code reports through `on_epoch`, kept in its folder.

A model trained in epochs reports each one as `on_epoch(epoch, scores)`, counting epochs from 1,
its scores named SPLIT_QUANTITY (`train_loss`, `test_accuracy`; SPLIT is train, validation or
test) so that the learning curves (curves.py) set train beside test. They are kept in the run's
epochs.json, rewritten whole after every epoch, and handed on to the trackers (tracking.py).
A run resumed from a checkpoint reports again from the epoch after it: what the interrupted
attempt recorded for that epoch and later is replaced, so each epoch is recorded once.
"""

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import StudyError

EPOCHS = "epochs.json"
SPLITS = ("train", "validation", "test")


class EpochsError(StudyError):
    """An epochs.json that is not a list of epochs with numeric scores."""


class Recorder:
    """The `on_epoch` the research code gets: records each epoch, then forwards it."""

    def __init__(self, folder: Path, forward: Callable[[int, dict[str, float]], None] | None = None) -> None:
        self.path = folder / EPOCHS
        # An interrupted attempt's epochs, which a resumed run goes on from.
        self.records = read(self.path) if self.path.is_file() else []
        self.forward = forward
        self.forwarded = False

    def __call__(self, epoch: int, scores: Mapping[str, float]) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise TypeError(f"on_epoch(epoch, scores): the epoch must be an int from 1 on, not {epoch!r}.")
        values = {}
        for name, value in scores.items():
            try:
                values[str(name)] = float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"on_epoch: score {name!r} of epoch {epoch} is not a number: {value!r}."
                ) from None
        self.records = [record for record in self.records if record["epoch"] < epoch]
        if self.forward is not None and not self.forwarded:
            # A resumed run: the trackers start a run of their own, with the epochs it had.
            for record in self.records:
                self.forward(record["epoch"], {k: v for k, v in record.items() if k != "epoch"})
            self.forwarded = True
        self.records.append({"epoch": epoch, **values})
        # Replaced by a rename, so never half-written; not synced to disk at every epoch (a run
        # killed by a power cut starts again from its last checkpoint and reports again from there).
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.records, indent=1) + "\n", encoding="utf-8")
        partial.replace(self.path)
        if self.forward is not None:
            self.forward(epoch, values)


def read(path: Path) -> list[dict[str, float]]:
    """A run's epochs, in order; EpochsError naming the file if it is not what Recorder writes."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EpochsError(f"{path} cannot be read ({error}).") from None
    if not isinstance(records, list) or not all(_valid(record) for record in records):
        raise EpochsError(
            f'{path} should be a list of epochs, each an object with an integer "epoch" from 1 '
            "and numeric scores: delete the run's folder and run it again (`uvx nox -s record`)."
        )
    return records


def _valid(record: object) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("epoch"), int) or record["epoch"] < 1:
        return False
    return all(isinstance(value, int | float) and not isinstance(value, bool) for value in record.values())


def split_of(score: str) -> tuple[str, str]:
    """`test_accuracy` -> ("test", "accuracy"); a score without a split's prefix -> ("", score)."""
    split, _, quantity = score.partition("_")
    return (split, quantity) if split in SPLITS and quantity else ("", score)
