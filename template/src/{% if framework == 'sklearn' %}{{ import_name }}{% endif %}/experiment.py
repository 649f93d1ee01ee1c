"""One run of the study as a pure function: config in, metrics out."""

import random
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .config import Config, Scaler
from .data import add_shifted_copies, load_prepared, split
from .models import EpochMLPClassifier, build_model

METRICS = ("accuracy", "macro_f1")


def seed_everything(seed: int) -> None:
    """Seed the global RNGs that libraries may use behind our back.

    Our own code never draws from them: every random choice below takes the
    seed explicitly, so a run depends on its config alone.
    """
    random.seed(seed)
    np.random.seed(seed)


def epoch_scores(model: ClassifierMixin, features: np.ndarray, labels: np.ndarray, split: str) -> dict:
    """The cross-entropy and accuracy of `model` on one split, as the learning curves show them."""
    probabilities = model.predict_proba(features)
    predicted = model.classes_[probabilities.argmax(axis=1)]
    # scikit-learn's log_loss, without its checks of the inputs: 0.04 ms instead of 1.7 ms a call
    # here, 60 calls a run. Probabilities clipped as log_loss clips them (tests/test_experiment.py
    # checks that the two agree).
    true_class = probabilities[np.arange(len(labels)), np.searchsorted(model.classes_, labels)]
    loss = -np.log(np.clip(true_class, np.finfo(probabilities.dtype).eps, 1.0)).mean()
    return {f"{split}_loss": float(loss), f"{split}_accuracy": float(accuracy_score(labels, predicted))}


def run(config: Config, on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """Train the configured model on one seed's split and score it on the split `scored_on`
    names: the test split, or in a search the validation split (data.split).

    A model trained in epochs (the MLP) reports each one to `on_epoch`: its loss and accuracy on
    the training split and on the split scored on, for the learning curves.
    """
    seed_everything(config.seed)
    features, labels = load_prepared(config.data.path)
    train_x, test_x, train_y, test_y = split(features, labels, config.data, config.seed, config.scored_on)
    scored = config.scored_on.value  # test, or validation (then test_x is the validation split)
    # The learning curves score the training images without their shifted copies, as the test
    # images are: a fifth of the cost, and the gap between the curves shows overfitting, not the
    # shifted images being harder.
    seen_x, seen_y = train_x, train_y
    train_x, train_y = add_shifted_copies(
        train_x, train_y, config.data.image_shape, config.augmentation.shift_pixels
    )
    if config.preprocessing.scaler is Scaler.standard:
        scaler = StandardScaler().fit(train_x)
        train_x, test_x, seen_x = (scaler.transform(x) for x in (train_x, test_x, seen_x))

    model = build_model(config.model, config.training, config.seed)
    if isinstance(model, EpochMLPClassifier) and on_epoch is not None:
        model.after_epoch = lambda epoch: on_epoch(
            epoch,
            epoch_scores(model, seen_x, seen_y, "train") | epoch_scores(model, test_x, test_y, scored),
        )
    with threadpool_limits(limits=config.threads), warnings.catch_warnings():
        # The MLP trains for a fixed number of epochs on purpose (see models.py).
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_x, train_y)
        predicted = model.predict(test_x)
    return {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "macro_f1": float(f1_score(test_y, predicted, average="macro")),
    }
