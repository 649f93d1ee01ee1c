"""One run of the study as a pure function: config in, metrics out."""

import random
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .config import Config, Scaler
from .data import add_shifted_copies, load_prepared, split
from .models import build_model

METRICS = ("accuracy", "macro_f1")


def seed_everything(seed: int) -> None:
    """Seed the global RNGs that libraries may use behind our back.

    Our own code never draws from them: every random choice below takes the
    seed explicitly, so a run depends on its config alone.
    """
    random.seed(seed)
    np.random.seed(seed)


def run(config: Config) -> dict[str, float]:
    """Train the configured model on one seed's split and score it on the test set."""
    seed_everything(config.seed)
    features, labels = load_prepared(config.data.path)
    train_x, test_x, train_y, test_y = split(features, labels, config.data, config.seed)
    train_x, train_y = add_shifted_copies(
        train_x, train_y, config.data.image_shape, config.augmentation.shift_pixels
    )
    if config.preprocessing.scaler is Scaler.standard:
        scaler = StandardScaler().fit(train_x)
        train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)

    model = build_model(config.model, config.training, config.seed)
    with threadpool_limits(limits=config.threads), warnings.catch_warnings():
        # The MLP trains for a fixed number of epochs on purpose (see models.py).
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_x, train_y)
        predicted = model.predict(test_x)
    return {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "macro_f1": float(f1_score(test_y, predicted, average="macro")),
    }
