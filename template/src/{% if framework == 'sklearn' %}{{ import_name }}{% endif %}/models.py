"""Build a scikit-learn estimator from its config."""

from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from .config import KNNConfig, LogisticRegressionConfig, MLPConfig, TrainingConfig


def build_model(config: object, training: TrainingConfig, seed: int) -> ClassifierMixin:
    match config:
        case MLPConfig():
            return MLPClassifier(
                hidden_layer_sizes=tuple(config.hidden_units),
                alpha=config.weight_decay,
                learning_rate_init=training.learning_rate,
                batch_size=training.batch_size,
                # A fixed budget of epochs, as in deep learning, rather than
                # scikit-learn's convergence test: every seed trains equally long.
                max_iter=training.epochs,
                n_iter_no_change=training.epochs + 1,
                random_state=seed,
            )
        case LogisticRegressionConfig():
            return LogisticRegression(C=config.inverse_regularisation, max_iter=config.max_iter)
        case KNNConfig():
            return KNeighborsClassifier(n_neighbors=config.n_neighbors)
    raise TypeError(f"no model is built from a {type(config).__name__}")
