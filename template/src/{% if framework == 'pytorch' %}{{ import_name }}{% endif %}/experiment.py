"""One run of the study as a pure function: config in, metrics out.

The run's folder holds its checkpoints: a run restarted after an interruption resumes from the
last one and ends with the same metrics as a run that was never interrupted.
"""

from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

from .config import Config, Scaler
from .data import add_shifted_copies, load_prepared, split
from .models import build_model
from .train import choose_device, make_deterministic, predict, train

METRICS = ("accuracy", "macro_f1")
CHECKPOINT = "checkpoint.pt"


def run(config: Config, folder: Path) -> dict[str, float]:
    """Train the configured network on one seed's split and score it on the test set."""
    make_deterministic(config.seed, config.threads)
    device = choose_device(config.device)
    features, labels = load_prepared(config.data.path)
    train_x, test_x, train_y, test_y = split(features, labels, config.data, config.seed)
    train_x, train_y = add_shifted_copies(
        train_x, train_y, config.data.image_shape, config.augmentation.shift_pixels
    )
    if config.preprocessing.scaler is Scaler.standard:
        scaler = StandardScaler().fit(train_x)
        train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)

    # Images as the networks take them: (n, channels=1, height, width).
    shape = (-1, 1, *config.data.image_shape)
    model = build_model(config.model, config.data.image_shape, classes=int(labels.max()) + 1)
    train(model, train_x.reshape(shape), train_y, config, device, folder / CHECKPOINT)
    predicted = predict(model, test_x.reshape(shape), device, config.training.batch_size)
    return {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "macro_f1": float(f1_score(test_y, predicted, average="macro")),
    }
