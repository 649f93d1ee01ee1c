"""Build a scikit-learn estimator from its config."""

from collections.abc import Callable

from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from .config import KNNConfig, LogisticRegressionConfig, MLPConfig, TrainingConfig


class EpochMLPClassifier(MLPClassifier):
    """scikit-learn's MLP, calling `after_epoch(epoch)` at the end of each epoch of `fit`.

    scikit-learn has no per-epoch callback. `partial_fit` once per epoch would give one, but each
    call shuffles the samples afresh, so the network would see another order and end with other
    weights. This hooks the method `fit` calls after every epoch instead, and computes nothing
    else: the weights are those of a plain MLPClassifier, bit for bit. The method is private, so
    tests/test_experiment.py checks both (uv.lock pins the scikit-learn it holds for).
    """

    after_epoch: Callable[[int], None] | None = None

    def _update_no_improvement_count(self, *args, **kwargs) -> None:
        super()._update_no_improvement_count(*args, **kwargs)
        if self.after_epoch is not None:
            self.after_epoch(self.n_iter_)


def build_model(config: object, training: TrainingConfig, seed: int) -> ClassifierMixin:
    match config:
        case MLPConfig():
            return EpochMLPClassifier(
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
