"""A run's per-epoch scores: what the research code reports through `on_epoch`, kept in its folder.

A model trained in epochs reports each one as `on_epoch(epoch, scores)`, counting epochs from 1,
its scores named SPLIT_QUANTITY (`train_loss`, `test_accuracy`; SPLIT is train, validation or
test) so that the learning curves (results/curves.py) set train beside test. They are kept in the run's
epochs.json, rewritten whole after every epoch, and handed on to the trackers (tracking/).
A run resumed from a checkpoint reports again from the epoch after it: what the interrupted
attempt recorded for that epoch and later is replaced, so each epoch is recorded once.
"""

import json
import math
import operator
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from study_machinery.core import paths
from study_machinery.core.errors import StudyError

SPLITS = ("train", "validation", "test")


class EpochsError(StudyError):
    """An epochs.json that is not a list of epochs with numeric scores."""


class Recorder:
    """The `on_epoch` the research code gets: records each epoch, then forwards it."""

    def __init__(self, folder: Path, forward: Callable[[int, dict[str, float]], None] | None = None) -> None:
        self.path = folder / paths.EPOCHS
        # An interrupted attempt's epochs, which a resumed run goes on from.
        # Each epoch's scores, a score that is not finite as None (JSON's null).
        self.records: list[dict[str, Any]] = read(self.path) if self.path.is_file() else []
        self.forward = forward
        self.forwarded = False

    def __call__(self, epoch: int, scores: Mapping[str, float]) -> None:
        try:
            number = operator.index(epoch)  # an int, or numpy's: not a float
        except TypeError:
            number = None
        if number is None or isinstance(epoch, bool) or number < 1:
            raise TypeError(f"on_epoch(epoch, scores): the epoch must be an int from 1 on, not {epoch!r}.")
        epoch = number
        values = {}
        for name, value in scores.items():
            if name == "epoch":
                raise TypeError("on_epoch: a score may not be named 'epoch', which is the epoch's number.")
            try:
                values[str(name)] = float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"on_epoch: score {name!r} of epoch {epoch} is not a number: {value!r}."
                ) from None
        self.records = [record for record in self.records if record["epoch"] < epoch]
        self._replay()
        # A score that is not finite (a diverged loss) is kept as null: JSON has no NaN.
        self.records.append(
            {"epoch": epoch, **{k: v if math.isfinite(v) else None for k, v in values.items()}}
        )
        # Replaced by a rename, so never half-written; not synced to disk at every epoch (a run
        # killed by a power cut starts again from its last checkpoint and reports again from there).
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.records, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        partial.replace(self.path)
        if self.forward is not None:
            self.forward(epoch, values)

    def _replay(self) -> None:
        """Once per attempt: the epochs an interrupted attempt recorded, for the trackers' new run."""
        if self.forward is not None and not self.forwarded:
            for record in self.records:
                scores = {k: math.nan if v is None else v for k, v in record.items() if k != "epoch"}
                self.forward(record["epoch"], scores)
            self.forwarded = True

    def close(self) -> None:
        """After the run: a resumed attempt that trained no epoch more still gives the trackers its epochs."""
        self._replay()


def read(path: Path) -> list[dict[str, Any]]:
    """A run's epochs, in order; EpochsError naming the file if it is not what Recorder writes."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EpochsError(f"{path} cannot be read ({error}).") from None
    if not isinstance(records, list) or not all(_valid(record) for record in records):
        raise EpochsError(
            f'{path} should be a list of epochs, each an object with an integer "epoch" from 1 '
            "and numeric (or null) scores: delete the run's folder and run it again (`uvx nox -s record`)."
        )
    return records


def _valid(record: object) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("epoch"), int) or record["epoch"] < 1:
        return False
    return all(
        value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        for value in record.values()
    )


def split_of(score: str) -> tuple[str, str]:
    """`test_accuracy` -> ("test", "accuracy"); a score without a split's prefix -> ("", score)."""
    split, _, quantity = score.partition("_")
    return (split, quantity) if split in SPLITS and quantity else ("", score)
