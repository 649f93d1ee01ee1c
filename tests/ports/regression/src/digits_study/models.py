"""Build a scikit-learn regressor from its config."""

from sklearn.base import RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import Ridge

from .config import BoostingConfig, GradientBoostingConfig, MeanConfig, RidgeConfig


def build_model(config: object, boosting: BoostingConfig, seed: int) -> RegressorMixin:
    match config:
        case GradientBoostingConfig():
            return GradientBoostingRegressor(
                n_estimators=boosting.n_estimators,
                learning_rate=boosting.learning_rate,
                subsample=boosting.subsample,
                max_depth=config.max_depth,
                min_samples_leaf=config.min_samples_leaf,
                # A fixed number of rounds, no early stopping: every seed fits equally long.
                n_iter_no_change=None,
                random_state=seed,
            )
        case RidgeConfig():
            return Ridge(alpha=config.alpha)
        case MeanConfig():
            return DummyRegressor(strategy="mean")
    raise TypeError(f"no model is built from a {type(config).__name__}")
