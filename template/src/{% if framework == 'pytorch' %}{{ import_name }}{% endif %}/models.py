"""Build a PyTorch network from its config."""

from itertools import pairwise

from torch import nn

from .config import CNNConfig, LogisticRegressionConfig, MLPConfig


def build_model(config: object, image_shape: list[int], classes: int) -> nn.Module:
    height, width = image_shape
    match config:
        case CNNConfig():
            layers: list[nn.Module] = []
            channels = [1, *config.channels]
            for inputs, outputs in pairwise(channels):
                # Padding 1 keeps the 3x3 convolutions from shrinking the 8x8 images.
                layers += [nn.Conv2d(inputs, outputs, kernel_size=3, padding=1), nn.ReLU()]
            features = channels[-1] * (height // 2) * (width // 2)
            return nn.Sequential(
                *layers,
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Dropout(config.dropout),
                nn.Linear(features, classes),
            )
        case MLPConfig():
            layers = [nn.Flatten()]
            sizes = [height * width, *config.hidden_units]
            for inputs, outputs in pairwise(sizes):
                layers += [nn.Linear(inputs, outputs), nn.ReLU(), nn.Dropout(config.dropout)]
            return nn.Sequential(*layers, nn.Linear(sizes[-1], classes))
        case LogisticRegressionConfig():
            # Softmax regression: the cross-entropy loss applies the softmax.
            return nn.Sequential(nn.Flatten(), nn.Linear(height * width, classes))
    raise TypeError(f"no model is built from a {type(config).__name__}")
