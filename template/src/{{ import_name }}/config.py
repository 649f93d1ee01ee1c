"""The schema of every config under conf/.

Hydra checks each composed config against these dataclasses, so a misspelt key
or a value of the wrong type fails at compose time, before any data is loaded.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class DataConfig:
    # Relative to the study's root, where every command runs.
    path: str = MISSING
    image_shape: list[int] = field(default_factory=lambda: [8, 8])
    test_fraction: float = 0.25
    # Share of the training split that is used; the scale sets it.
    train_fraction: float = MISSING


class Scaler(Enum):
    standard = "standard"
    none = "none"


@dataclass
class PreprocessingConfig:
    scaler: Scaler = Scaler.standard


@dataclass
class AugmentationConfig:
    # Each training image is also shown shifted by this many pixels up, down,
    # left and right, so 1 makes the training set five times larger. 0 is off.
    shift_pixels: int = 0


@dataclass
class TrainingConfig:
    # How long and how a model that learns by gradient steps is trained; the
    # scale sets the epochs. Models fitted in closed form ignore it.
    epochs: int = MISSING
    batch_size: int = 128
    learning_rate: float = 1e-3


@dataclass
class MLPConfig:
    hidden_units: list[int] = field(default_factory=lambda: [100])
    weight_decay: float = 1e-3


@dataclass
class LogisticRegressionConfig:
    inverse_regularisation: float = 1.0
    max_iter: int = 1000


@dataclass
class KNNConfig:
    n_neighbors: int = 3


@dataclass
class Config:
    # The first four keys are the ones the machinery reads (src/study_machinery/contract.py).
    # Which file under conf/variant/ this run is; names its output folder.
    variant: str = MISSING
    # Which file under conf/scale/ sets its size: smoke, small, medium or large.
    scale: str = MISSING
    # Seed 0 is as good a seed as any: there is no "unseeded" run.
    seed: int = 0
    # One BLAS thread per run: results then do not depend on the number of
    # cores, and parallel runs do not compete for them.
    threads: int = 1
    data: DataConfig = MISSING
    preprocessing: PreprocessingConfig = MISSING
    augmentation: AugmentationConfig = MISSING
    training: TrainingConfig = MISSING
    # Typed per option by the schema each conf/model/*.yaml names in its defaults.
    model: Any = MISSING


def register_configs() -> None:
    """Make the schemas known to Hydra: conf/config.yaml and each conf/model/*.yaml name theirs."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="schema/model", name="mlp", node=MLPConfig)
    store.store(group="schema/model", name="logistic_regression", node=LogisticRegressionConfig)
    store.store(group="schema/model", name="knn", node=KNNConfig)
