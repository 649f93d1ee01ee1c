"""Where a tier's runs execute: the executors under conf/executor/, each checked against its schema.

A file conf/executor/NAME.yaml says which `kind` of executor it is and sets its settings; a
tier names one in conf/study.yaml (`executor: cores` unless it says otherwise) and the tier
command can name another and override its settings, Hydra style:

    python -m study_machinery tier small executor=slurm executor.partition=gpu

The executor never changes a result: a run's identity (runs/identity.py) does not include it, so
moving a tier from one executor to another re-runs nothing, and a run computes the same bits
wherever it runs on the same hardware (the seeds and its threads are in its config).
"""

import re
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from study_machinery.core import paths
from study_machinery.core.errors import StudyError


class Kind(Enum):
    # This machine, one worker process per `threads` cores, each importing the libraries once.
    cores = "cores"
    # This machine, one run after another in the tier's own process: quickest for runs of milliseconds.
    basic = "basic"
    # A SLURM cluster: one job array per tier, submitted with sbatch (slurm.py).
    slurm = "slurm"
    # A Ray cluster: one Ray task per run (ray_tasks.py).
    ray = "ray"


@dataclass
class Cores:
    kind: Kind = Kind.cores
    # Worker processes; null: as many as the cores allow (cores // threads), one per GPU at most.
    workers: int | None = None


@dataclass
class Basic:
    kind: Kind = Kind.basic


@dataclass
class Slurm:
    kind: Kind = Kind.slurm
    # null: the cluster's default partition and account.
    partition: str | None = None
    account: str | None = None
    # Per run, in any format sbatch's --time takes (minutes, H:MM:SS, D-HH:MM:SS).
    time_limit: str = "1:00:00"
    # CPU cores per run; null: the run's own `threads`, which is what it uses.
    cpus_per_run: int | None = None
    # Memory per run, in sbatch's --mem format.
    memory_per_run: str = "4G"
    gpus_per_run: int = 0
    # At most this many runs at once (the array's %N); null: as many as the cluster gives.
    max_parallel: int | None = None
    # Any other sbatch options, e.g. ["--qos=short", "--constraint=a100"].
    sbatch_options: list[str] = field(default_factory=list)
    # Shell lines each job runs before its run, e.g. ["module load cuda/12.4"].
    setup: list[str] = field(default_factory=list)
    # How often a waiting tier command asks SLURM about its jobs, in seconds.
    poll_seconds: float = 30.0


@dataclass
class Ray:
    kind: Kind = Kind.ray
    # local: a Ray cluster of this machine, started for the tier and stopped after it; auto: the
    # cluster `ray start` started here (or RAY_ADDRESS names); or a head's HOST:PORT.
    address: str = "local"
    # CPU cores per run; null: the run's own `threads`.
    cpus_per_run: int | None = None
    gpus_per_run: float = 0.0
    # Memory per run in GiB, which Ray reserves for it; null: none reserved.
    memory_per_run_gb: float | None = None


SCHEMAS = {Kind.cores: Cores, Kind.basic: Basic, Kind.slurm: Slurm, Kind.ray: Ray}
Executor = Cores | Basic | Slurm | Ray


def executor_dir(conf_dir: Path = paths.CONF_DIR) -> Path:
    return conf_dir / "executor"


def names(conf_dir: Path = paths.CONF_DIR) -> list[str]:
    return sorted(path.stem for path in executor_dir(conf_dir).glob("*.yaml"))


def load(name: str, overrides: list[str] = (), conf_dir: Path = paths.CONF_DIR) -> Executor:
    """conf/executor/NAME.yaml with the overrides (`executor.KEY=VALUE`), checked against its schema."""
    path = executor_dir(conf_dir) / f"{name}.yaml"
    shown = paths.shown(path)
    if not path.is_file():
        raise StudyError(f"executor {name!r}: there is no {shown} (executors: {', '.join(names(conf_dir))}).")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise StudyError(f"{shown} is not valid YAML: {error}") from None
    kinds = ", ".join(kind.value for kind in Kind)
    if not isinstance(content, dict) or content.get("kind") not in {kind.value for kind in Kind}:
        raise StudyError(f"{shown}: `kind` must be one of {kinds}.")
    schema = SCHEMAS[Kind(content["kind"])]
    dotlist, strings = [], {}
    for override in overrides:
        key, equals, value = override.partition("=")
        if not key.startswith("executor.") or not equals:
            raise StudyError(f"{override!r}: an executor setting is written executor.KEY=VALUE.")
        key = key.removeprefix("executor.")
        if key in _string_fields(schema):
            # As typed: YAML would read time_limit=4:00:00 as the base-60 number 14400.
            strings[key] = value.strip("'\"")
        else:
            dotlist.append(f"{key}={value}")
    try:
        merged = OmegaConf.merge(
            OmegaConf.structured(schema), content, OmegaConf.from_dotlist(dotlist), strings
        )
        executor = OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        # OmegaConf's first line names the key and the problem; the rest is its internals.
        where = f"{shown} with {' '.join(overrides)}" if overrides else shown
        raise StudyError(f"{where}: {str(error).splitlines()[0]}") from None
    if executor.kind is not Kind(content["kind"]):
        raise StudyError(f"{shown}: `kind` is {content['kind']}, so it cannot be overridden.")
    if isinstance(executor, Slurm):
        _check_slurm(executor, content, shown)
    return executor


# sbatch's --time: minutes, MM:SS, H:MM:SS, D-H, D-H:MM or D-H:MM:SS.
TIME_LIMIT = re.compile(r"\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+(:\d{1,2}){0,2}")


def _check_slurm(executor: Slurm, content: dict, shown: str) -> None:
    if not isinstance(content.get("time_limit", ""), str):
        # YAML reads an unquoted 4:00:00 as the base-60 number 14400, which sbatch would take
        # for 14400 minutes.
        raise StudyError(
            f'{shown}: write time_limit in quotes, e.g. time_limit: "4:00:00" (unquoted, YAML reads '
            "4:00:00 as the number 14400)."
        )
    if not TIME_LIMIT.fullmatch(executor.time_limit):
        raise StudyError(f"{shown}: time_limit {executor.time_limit!r} is not a format of sbatch's --time.")
    if executor.poll_seconds <= 0:
        raise StudyError(f"{shown}: poll_seconds must be above 0.")


def _string_fields(schema: type) -> set[str]:
    return {f.name for f in fields(schema) if f.type in (str, str | None)}
