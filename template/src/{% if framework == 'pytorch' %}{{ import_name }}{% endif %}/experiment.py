"""One run of the study as a pure function: config in, metrics out.

The run's folder holds its checkpoints: a run restarted after an interruption resumes from the
last one and ends with the same metrics as a run that was never interrupted.
"""

from collections.abc import Callable
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

from . import distributed
from .config import Config, Scaler
from .data import add_shifted_copies, load_prepared, split
from .models import build_model
from .train import choose_device, evaluate, make_deterministic, predict, train

METRICS = ("accuracy", "macro_f1")
CHECKPOINT = "checkpoint.pt"


def run(
    config: Config, folder: Path, on_epoch: Callable[[int, dict[str, float]], None] | None = None
) -> dict[str, float]:
    """Train the configured network on one seed's split and score it on the split `scored_on`
    names: the test split, or in a search the validation split (data.split).

    Each epoch is reported to `on_epoch`: the loss and accuracy on the training split and on
    the split scored on, for the learning curves.

    With distributed.processes N > 1 it runs in each of the run's N processes, which train the
    model together (distributed.py); the machinery records rank 0's metrics and epochs.
    """
    world = distributed.world(config.distributed.processes)
    make_deterministic(config.seed, config.threads)
    device = choose_device(config.device, world)
    distributed.join(world, device)
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

    # Images as the networks take them: (n, channels=1, height, width).
    shape = (-1, 1, *config.data.image_shape)
    train_x, test_x, seen_x = (x.reshape(shape) for x in (train_x, test_x, seen_x))
    model = build_model(config.model, config.data.image_shape, classes=int(labels.max()) + 1)
    batch = config.training.batch_size

    def report(epoch: int) -> None:
        train_loss, train_accuracy = evaluate(model, seen_x, seen_y, device, batch)
        test_loss, test_accuracy = evaluate(model, test_x, test_y, device, batch)
        on_epoch(
            epoch,
            {
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                f"{scored}_loss": test_loss,
                f"{scored}_accuracy": test_accuracy,
            },
        )

    after_epoch = report if on_epoch is not None else None
    train(model, train_x, train_y, config, device, folder / CHECKPOINT, world, after_epoch)
    predicted = predict(model, test_x, device, batch)
    return {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "macro_f1": float(f1_score(test_y, predicted, average="macro")),
    }
