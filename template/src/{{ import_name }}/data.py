"""Loading, splitting and augmenting the prepared data set."""

from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .config import DataConfig, ScoredOn
from .prepare import PREPARED_FILE


class MissingDataError(FileNotFoundError):
    """Raised when a data file the run needs is not on disk; its message says how to restore it."""


def load_prepared(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return the features and labels the `prepare` stage wrote into `folder` (the config's data.path)."""
    path = Path(folder) / PREPARED_FILE
    if not path.is_file():
        raise MissingDataError(
            f"{path} is missing. Restore it with `uv run dvc repro prepare` "
            "(or `uv run dvc pull` to fetch it from the DVC remote)."
        )
    # allow_pickle=False: the file holds plain arrays, never Python objects.
    with np.load(path, allow_pickle=False) as arrays:
        return arrays["features"], arrays["labels"]


def split(
    features: np.ndarray, labels: np.ndarray, config: DataConfig, seed: int, scored_on: ScoredOn
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training split and the split a run is scored on, stratified; a seed draws its own.

    Scored on the test split (the main result), the model trains on the rest. Scored on
    validation (a search's trials), the test split is set aside unread and the validation split
    is carved from the training split (validation_fraction of it, by the same seed): the
    choices a search makes never see the test split. With a train_fraction below 1 only that
    share of the training split is kept (stratified too); the split scored on stays whole, so
    scores stay comparable.
    """
    train_x, scored_x, train_y, scored_y = train_test_split(
        features, labels, test_size=config.test_fraction, random_state=seed, stratify=labels
    )
    if scored_on is ScoredOn.validation:
        train_x, scored_x, train_y, scored_y = train_test_split(
            train_x, train_y, test_size=config.validation_fraction, random_state=seed, stratify=train_y
        )
    if config.train_fraction < 1.0:
        train_x, _, train_y, _ = train_test_split(
            train_x, train_y, train_size=config.train_fraction, random_state=seed, stratify=train_y
        )
    return train_x, scored_x, train_y, scored_y


def shift(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Move every image down by `rows` and right by `cols` pixels (negative: up, left).

    The pixels that move in from outside the image are blank (0): nothing wraps around.
    """
    shifted = np.roll(images, (rows, cols), axis=(1, 2))
    if rows > 0:
        shifted[:, :rows, :] = 0
    elif rows < 0:
        shifted[:, rows:, :] = 0
    if cols > 0:
        shifted[:, :, :cols] = 0
    elif cols < 0:
        shifted[:, :, cols:] = 0
    return shifted


def add_shifted_copies(
    features: np.ndarray, labels: np.ndarray, image_shape: list[int], pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Append copies of every image shifted by `pixels` up, down, left and right."""
    if pixels == 0:
        return features, labels
    images = features.reshape(-1, *image_shape)
    moves = [(pixels, 0), (-pixels, 0), (0, pixels), (0, -pixels)]
    copies = [features] + [shift(images, rows, cols).reshape(len(features), -1) for rows, cols in moves]
    return np.concatenate(copies), np.tile(labels, len(copies))
