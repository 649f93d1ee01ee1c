"""The schema of every config under conf/.

Hydra checks each composed config against these dataclasses, so a misspelt key
or a value of the wrong type fails at compose time, before any data is loaded.
"""

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# The study's root and its conf/ folder, found from this file. Hydra finds the
# configs from any working directory; the commands themselves run from the root
# (DVC and nox do), where relative paths such as data.path start.
ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"


@dataclass
class DataConfig:
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


class ToleranceKind(Enum):
    exact = "exact"
    close = "close"
    statistical = "statistical"


@dataclass
class Tolerance:
    # exact: bit-identical. close: math.isclose(recorded, reproduced, rel_tol, abs_tol).
    # statistical: the re-run's mean inside the recorded runs' prediction interval.
    kind: ToleranceKind = ToleranceKind.close
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    confidence: float = 0.95


@dataclass
class TierConfig:
    seeds: list[int] = MISSING
    # Hydra launcher of the tier's multirun: cores (a worker per core) or basic
    # (one run after another, in one process).
    launcher: str = "cores"


@dataclass
class ComputeAssumptions:
    # Stated, not measured: the energy and carbon estimates follow from them.
    watts_per_cpu_core: float = MISSING
    watts_per_gpu: float = MISSING
    grams_co2e_per_kwh: float = MISSING


@dataclass
class StudyConfig:
    main_tier: str = MISSING
    # What changes from one seed to the next: the variation the error bars measure.
    seeds_vary: str = MISSING
    tiers: dict[str, TierConfig] = MISSING
    tolerance: dict[str, Tolerance] = field(default_factory=dict)
    compute: ComputeAssumptions = MISSING


def register_configs() -> None:
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="schema/model", name="mlp", node=MLPConfig)
    store.store(group="schema/model", name="logistic_regression", node=LogisticRegressionConfig)
    store.store(group="schema/model", name="knn", node=KNNConfig)
