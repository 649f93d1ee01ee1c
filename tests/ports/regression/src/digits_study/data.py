"""Loading the prepared data, choosing its columns, and splitting it."""

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .config import DataConfig, FeaturesConfig, ScoredOn
from .prepare import PREPARED_FILE


class MissingDataError(FileNotFoundError):
    """Raised when a data file the run needs is not on disk; its message says how to restore it."""


def load_prepared(folder: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return the features, the target and the column names the `prepare` stage wrote into
    `folder` (the config's data.path)."""
    path = Path(folder) / PREPARED_FILE
    if not path.is_file():
        raise MissingDataError(
            f"{path} is missing. Restore it with `uv run dvc repro prepare` "
            "(or `uv run dvc pull` to fetch it from the DVC remote)."
        )
    # allow_pickle=False: the file holds plain arrays, never Python objects.
    with np.load(path, allow_pickle=False) as arrays:
        return arrays["features"], arrays["target"], [str(name) for name in arrays["columns"]]


def kept_columns(columns: list[str], data: DataConfig, features: FeaturesConfig) -> list[int]:
    """Indices of the columns the models see: all but those of the dropped groups."""
    unknown = [group for group in features.drop if group not in data.groups]
    if unknown:
        raise ValueError(f"features.drop names {unknown}, not groups of data.groups ({sorted(data.groups)}).")
    dropped = {column for group in features.drop for column in data.groups[group]}
    return [index for index, column in enumerate(columns) if column not in dropped]


def split(
    features: np.ndarray, target: np.ndarray, config: DataConfig, seed: int, scored_on: ScoredOn
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training split and the split a run is scored on; a different seed draws others.

    Scored on validation (a search's trials), the test split is set aside unread and the
    validation split is carved from the training split. With a train_fraction below 1 only that
    share of the training split is kept; the split scored on stays whole, so scores stay
    comparable across scales.
    """
    train_x, test_x, train_y, test_y = train_test_split(
        features, target, test_size=config.test_fraction, random_state=seed
    )
    if scored_on is ScoredOn.validation:
        train_x, test_x, train_y, test_y = train_test_split(
            train_x, train_y, test_size=config.validation_fraction, random_state=seed
        )
    if config.train_fraction < 1.0:
        train_x, _, train_y, _ = train_test_split(
            train_x, train_y, train_size=config.train_fraction, random_state=seed
        )
    return train_x, test_x, train_y, test_y
