"""What the trackers are told: conf/tracking.yaml's schema, and what each logs about one run.

Its own module, below the trackers (dvclive_run.py, mlflow_run.py, wandb_run.py) and the
tracking package that feeds them, so that each reads its settings without importing the others.
"""

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.settings import read_settings

SWITCH = "STUDY_TRACKING"


# Where the trackers' own stores are, in the study: git ignores it.
STORE = paths.ROOT / "tracking"


class Tracker(Enum):
    dvclive = "dvclive"
    mlflow = "mlflow"
    wandb = "wandb"


class WandbMode(Enum):
    # Run folders on disk only; `wandb sync` uploads them later.
    offline = "offline"
    # Straight to the W&B server: needs `wandb login` (the key stays in ~/.netrc, never here).
    online = "online"


@dataclass
class MLflowSettings:
    # A SQLite file (relative to the study's root), or the http(s):// address of an MLflow server.
    tracking_uri: str = "sqlite:///tracking/mlflow.db"


@dataclass
class WandbSettings:
    mode: WandbMode = WandbMode.offline
    # The W&B team or user the runs belong to once uploaded; null: your default entity.
    entity: str | None = None


@dataclass
class Settings:
    trackers: list[Tracker] = field(default_factory=list)
    # The MLflow experiments are PROJECT/TIER; the W&B project is PROJECT.
    project: str = "study"
    mlflow: MLflowSettings = field(default_factory=MLflowSettings)
    wandb: WandbSettings = field(default_factory=WandbSettings)


def load(path: Path | None = None) -> Settings:
    """conf/tracking.yaml, checked against its schema; no file (a study older than 0.5): no tracker."""
    path = path or paths.TRACKING_FILE
    return read_settings(path, Settings) if path.is_file() else Settings()


def switched_off() -> bool:
    return os.environ.get(SWITCH, "").lower() in ("off", "0", "false", "no")


def active() -> Settings:
    """The settings, or none at all when the environment says STUDY_TRACKING=off (the file is
    not even read: a clone that reproduces, or a test, never fails on it)."""
    return Settings() if switched_off() else load()


@dataclass(frozen=True)
class Context:
    """What every tracker logs about one run."""

    project: str
    tier: str
    variant: str
    seed: int
    identity: str
    config: dict
    folder: Path  # where the run writes: a tier's run, its attempt (paths.attempt_dir)
    recorded_as: Path  # the run's folder once it has finished

    @property
    def name(self) -> str:
        return f"{self.variant} seed {self.seed}"

    @property
    def provenance(self) -> str:
        """The run's provenance record, as a path from the study's root."""
        return paths.shown(self.recorded_as / paths.RUN_RECORD)

    def tags(self) -> dict[str, str]:
        return {
            "variant": self.variant,
            "seed": str(self.seed),
            "tier": self.tier,
            "identity": self.identity,
            "provenance": self.provenance,
        }
