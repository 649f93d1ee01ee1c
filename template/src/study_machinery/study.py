"""The study's own settings, conf/study.yaml: its tiers, tolerances and compute assumptions.

The schema below is the machinery's: a misspelt key or a value of the wrong type in
conf/study.yaml is refused with the file named, before anything runs.
"""

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import paths
from .errors import StudyError

# The variant every baseline and ablation is compared with: conf/variant/proposed.yaml.
METHOD = "proposed"


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


class Launcher(Enum):
    # Template 0.4 and older named the local executors here: the executor of the same name.
    cores = "cores"
    basic = "basic"


@dataclass
class TierConfig:
    seeds: list[int] = MISSING
    # Where its runs execute: a file under conf/executor/ (executors.py).
    executor: str = "cores"
    launcher: Launcher | None = None

    def __post_init__(self) -> None:
        if self.launcher is not None:
            self.executor = self.launcher.value


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


def read_settings(path: Path, schema: type):
    """A YAML file of settings, checked against its schema (a dataclass); StudyError naming the file."""
    shown = paths.shown(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise StudyError(f"{shown} cannot be read: {error.strerror}.") from None
    except yaml.YAMLError as error:
        raise StudyError(f"{shown} is not valid YAML: {error}") from None
    if not isinstance(content, dict):
        raise StudyError(f"{shown} should hold settings, `key: value` lines, not {content!r}.")
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), content))
    except OmegaConfBaseException as error:
        # OmegaConf's first line names the key and the problem; the rest is its internals.
        raise StudyError(f"{shown}: {str(error).splitlines()[0]}") from None


def load_study(conf_dir: Path = paths.CONF_DIR) -> StudyConfig:
    """Read conf/study.yaml, checked against its schema and for seeds enough to measure a spread."""
    path = conf_dir / "study.yaml"
    study = read_settings(path, StudyConfig)
    if study.main_tier not in study.tiers:
        raise StudyError(f"{path}: main_tier {study.main_tier!r} is not one of its tiers.")
    for name, tier in study.tiers.items():
        if len(set(tier.seeds)) < 2:
            raise StudyError(f"{path}: tier {name!r} needs two seeds or more for a spread.")
        if not all(map(valid_seed, tier.seeds)):
            raise StudyError(f"{path}: tier {name!r}: {SEED_RULE}, not {tier.seeds}.")
        if len(set(tier.seeds)) != len(tier.seeds):
            raise StudyError(f"{path}: tier {name!r} lists a seed twice: {tier.seeds}.")
    return study


# NumPy's and scikit-learn's seeds are unsigned 32-bit integers.
SEED_RULE = "a seed is a whole number from 0 to 2**32 - 1"


def valid_seed(seed: int) -> bool:
    return 0 <= seed < 2**32


def check_config_files(conf_dir: Path = paths.CONF_DIR) -> None:
    """Every YAML file under conf/ parses: a syntax error is named with its line, before Hydra's traceback."""
    for path in sorted(conf_dir.rglob("*.yaml")):
        try:
            with path.open(encoding="utf-8") as file:
                yaml.safe_load(file)
        except yaml.YAMLError as error:
            detail = "\n  ".join(line.strip() for line in str(error).strip().splitlines())
            raise StudyError(f"{paths.shown(path)} is not valid YAML:\n  {detail}") from None


def variants(conf_dir: Path = paths.CONF_DIR) -> list[str]:
    """Names of the variants, the proposed method first: proposed, baseline/knn, ..."""
    variant_dir = conf_dir / "variant"
    names = sorted(
        path.relative_to(variant_dir).with_suffix("").as_posix() for path in variant_dir.rglob("*.yaml")
    )
    return sorted(names, key=lambda name: name != METHOD)
