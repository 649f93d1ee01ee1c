"""One run of the study as a pure function: config in, metrics out."""

import random
from collections.abc import Callable

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .config import Config, Scaler
from .data import kept_columns, load_prepared, split
from .models import build_model

METRICS = ("rmse", "r2")


def seed_everything(seed: int) -> None:
    """Seed the global RNGs that libraries may use behind our back.

    Our own code never draws from them: every random choice below takes the
    seed explicitly, so a run depends on its config alone.
    """
    random.seed(seed)
    np.random.seed(seed)


def report_rounds(
    model: GradientBoostingRegressor,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    on_epoch: Callable[[int, dict[str, float]], None],
) -> None:
    """The RMSE after each boosting round on each split, as the learning curves show them.

    A round is the booster's epoch: one more tree. The fitted model predicts stage by
    stage (staged_predict), so this costs predictions only and changes nothing it learnt.
    """
    staged = {name: model.staged_predict(x) for name, (x, _) in splits.items()}
    for round_, predictions in enumerate(zip(*staged.values(), strict=True), start=1):
        scores = {
            f"{name}_rmse": float(root_mean_squared_error(y, predicted))
            for (name, (_, y)), predicted in zip(splits.items(), predictions, strict=True)
        }
        on_epoch(round_, scores)


def run(config: Config, on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """Fit the configured model on one seed's split and score it on the split `scored_on` names:
    the test split, or in a search the validation split (data.split).

    The boosted model reports each round to `on_epoch`: its RMSE on the training split and
    on the split scored on, for the learning curves.
    """
    seed_everything(config.seed)
    features, target, columns = load_prepared(config.data.path)
    features = features[:, kept_columns(columns, config.data, config.features)]
    train_x, test_x, train_y, test_y = split(features, target, config.data, config.seed, config.scored_on)
    if config.preprocessing.scaler is Scaler.standard:
        # Fitted on the training split alone: the test patients stay unseen.
        scaler = StandardScaler().fit(train_x)
        train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)

    model = build_model(config.model, config.boosting, config.seed)
    with threadpool_limits(limits=config.threads):
        model.fit(train_x, train_y)
        predicted = model.predict(test_x)
        if isinstance(model, GradientBoostingRegressor) and on_epoch is not None:
            scored = {config.scored_on.value: (test_x, test_y)}
            report_rounds(model, {"train": (train_x, train_y), **scored}, on_epoch)
    return {
        "rmse": float(root_mean_squared_error(test_y, predicted)),
        "r2": float(r2_score(test_y, predicted)),
    }
