"""The schema of every config under conf/: each key's type and meaning; conf/ holds the values.

Hydra checks each composed config against these dataclasses, so a misspelt key
or a value of the wrong type fails at compose time, before any data is loaded.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class DataConfig:
    # Relative to the study's root, where every command runs.
    path: str = MISSING
    test_fraction: float = MISSING
    # Share of the training split a search scores its trials on (data.split): the test split
    # stays unread until the main result.
    validation_fraction: float = MISSING
    # Share of the training split that is used; the scale sets it.
    train_fraction: float = MISSING
    # Named sets of columns, so that an ablation can drop a kind of measurement at once.
    groups: dict[str, list[str]] = MISSING


@dataclass
class FeaturesConfig:
    # Groups of data.groups the models do not see; every other column they do.
    drop: list[str] = MISSING


class ScoredOn(Enum):
    # The main result: fitted on the whole training split, scored on the test split.
    test = "test"
    # A search's trials: fitted on the training split less a validation split, scored on that.
    validation = "validation"


class Scaler(Enum):
    standard = "standard"
    none = "none"


@dataclass
class PreprocessingConfig:
    scaler: Scaler = MISSING


@dataclass
class BoostingConfig:
    # How a boosted model is fitted; the scale sets the rounds. The other models ignore it.
    n_estimators: int = MISSING
    learning_rate: float = MISSING
    # Share of the training rows each round's tree is fitted on, drawn with the run's seed.
    subsample: float = MISSING


@dataclass
class GradientBoostingConfig:
    # The shape of each round's regression tree.
    max_depth: int = MISSING
    min_samples_leaf: int = MISSING


@dataclass
class RidgeConfig:
    # The L2 penalty on the coefficients (of standardised features).
    alpha: float = MISSING


@dataclass
class MeanConfig:
    # Predicts the training split's mean target for everyone: nothing to set.
    pass


@dataclass
class Config:
    # The first five keys are the ones the machinery reads (src/study_machinery/contract.py).
    # Which file under conf/variant/ this run is; names its output folder.
    variant: str = MISSING
    # Which file under conf/scale/ sets its size: smoke, small, medium or large.
    scale: str = MISSING
    # Seed 0 is as good a seed as any: there is no "unseeded" run.
    seed: int = MISSING
    # One BLAS thread per run: results then do not depend on the number of
    # cores, and parallel runs do not compete for them.
    threads: int = MISSING
    # The split the run is scored on: test, or validation in a search (the machinery sets it).
    scored_on: ScoredOn = MISSING
    data: DataConfig = MISSING
    features: FeaturesConfig = MISSING
    preprocessing: PreprocessingConfig = MISSING
    boosting: BoostingConfig = MISSING
    # Typed per option by the schema each conf/model/*.yaml names in its defaults.
    model: Any = MISSING


def register_configs() -> None:
    """Make the schemas known to Hydra: conf/config.yaml and each conf/model/*.yaml name theirs."""
    store = ConfigStore.instance()
    store.store(name="config_schema", node=Config)
    store.store(group="schema/model", name="gradient_boosting", node=GradientBoostingConfig)
    store.store(group="schema/model", name="ridge", node=RidgeConfig)
    store.store(group="schema/model", name="mean", node=MeanConfig)
