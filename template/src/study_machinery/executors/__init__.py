"""Where a tier's runs execute: one interface, `Executor`, and one module per kind of executor.

A file conf/executor/NAME.yaml says which `kind` of executor it is and sets its settings; a
tier names one in conf/study.yaml (`executor: cores` unless it says otherwise) and the tier
command can name another and override its settings, Hydra style:

    python -m study_machinery tier small executor=slurm executor.partition=gpu

A kind is the module of that name here: cores.py and basic.py (this machine), slurm.py (a
SLURM job array), ray.py (Ray tasks). Each holds its `Executor`, whose `Settings` are the schema
its files are checked against; the tier (tiers/tier.py) knows none of them by name.
Another engine is one more module and one more file under conf/executor/ (docs/clusters.md).

The executor never changes a result: a run's identity (runs/identity.py) does not include it, so
moving a tier from one executor to another re-runs nothing, and a run computes the same bits
wherever it runs on the same hardware (the seeds and its threads are in its config).
"""

import contextlib
import importlib
import json
import pkgutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.runs.attempt import Outcome
from study_machinery.runs.plan import Planned


def per_run(
    runs: Sequence[Planned], cpus_per_process: int | None, gpus_per_process: float
) -> tuple[int, float]:
    """What each of `runs` is given on one node, sized for the largest: CPU cores and GPUs per
    process (cpus_per_process null: a run's own `threads`), times its processes
    (distributed.processes), which the run starts inside what it is given (runs/ranks.py)."""
    cpus = max((cpus_per_process or run_.resolved["threads"]) * run_.processes for run_ in runs)
    return cpus, gpus_per_process * max(run_.processes for run_ in runs)


@dataclass
class Submission:
    """What an executor that outlives the tier command records in a run's attempt folder
    (paths.SUBMITTED) when it is given the run: which of its jobs has it, under which identity."""

    executor: str  # the kind of executor (its module's name)
    job: str  # its id for the job, e.g. SLURM's ARRAYJOB_TASK "812_3"
    identity: str  # the run's identity key when it was submitted
    log: str  # the job's output, as shown from the study's root
    submitted: str
    # Submitted by --rerun-all: run even where the run's folder holds a result of this identity.
    forced: bool = False

    @classmethod
    def of(cls, folder: Path) -> "Submission | None":
        try:
            return cls(**json.loads((folder / paths.SUBMITTED).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


class Executor:
    """How a batch of planned runs executes. The tier, once it has planned its runs (runs/plan.py)
    and set aside those an executor still holds from an earlier command (records.py), calls:

        with executor.session(name):            # what the batch needs while it is executed
            executor.submit(name, runs, forced) # start the runs, or hand them to a cluster
            for event in executor.outcomes(name, runs):
                ...                              # each run's Outcome as it ends; a note between

    Every run executes through runs/attempt.py's `execute`, wherever that is: the run's folder is
    its result, so collecting a run is seeing its folder finished.
    """

    # Its name in what the tier says ("still SLURM jobs", "the submitted runs go on in Ray").
    label: ClassVar[str] = "this machine"
    # Whether the runs it is given go on when the tier command ends (a cluster's queue): it then
    # records each run's submission in the run's attempt folder (records.py), and the tier's
    # --detach and --resubmit apply to it.
    outlives: ClassVar[bool] = False
    # How a person cancels its jobs, e.g. "`scancel` them".
    cancel: ClassVar[str] = ""

    # The schema of its files under conf/executor/: a dataclass whose `kind` is the module's name.
    Settings: ClassVar[type]

    def __init__(self, name: str, settings: Any) -> None:
        self.name = name  # its file's name under conf/executor/
        self.settings = settings

    def session(self, name: str) -> contextlib.AbstractContextManager:
        """Held while the batch `name` (a tier's name) is submitted and its outcomes awaited."""
        return contextlib.nullcontext()

    def submit(self, name: str, runs: list[Planned], forced: frozenset[str]) -> str | None:
        """Start the runs, or hand them to the cluster; a line to say of it, if any.

        `forced` names runs to execute although their folders hold a current result (a forced
        re-run submitted again): only executors that outlive the command see one.
        """
        raise NotImplementedError

    def outcomes(self, name: str, runs: list[Planned]) -> Iterator[Outcome | str | None]:
        """Each of the runs (submitted now, or earlier where the executor outlives the command) as
        it ends, its Outcome; between, at least every LOG_EVERY seconds, a note on what the
        executor has of the rest (a string) or None, for the progress line."""
        raise NotImplementedError

    @staticmethod
    def check(settings: Any, content: dict, shown: str) -> None:
        """What the schema cannot say, from the file's `content` as written (shown as `shown`)."""

    # For executors that outlive the command: what it still has of submitted runs.
    @staticmethod
    def live(strict: bool = True) -> dict[str, str] | None:
        """The jobs it still holds, by job id, each with its state; None where it is not here."""
        return None

    @staticmethod
    def why_ended(record: "Submission") -> str:
        """How a job that left no finished run ended, in the engine's words."""
        return "ENDED without a result"


def executor_dir(conf_dir: Path = paths.CONF_DIR) -> Path:
    return conf_dir / "executor"


def names(conf_dir: Path = paths.CONF_DIR) -> list[str]:
    return sorted(path.stem for path in executor_dir(conf_dir).glob("*.yaml"))


def kinds() -> list[str]:
    """The kinds of executor: the modules here that define one (their helpers do not)."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        defined = getattr(engine(module.name), "Executor", None)
        if isinstance(defined, type) and defined.__module__ == f"{__name__}.{module.name}":
            found.append(module.name)
    return sorted(found)


def engine(kind: str) -> ModuleType:
    """The module of a kind of executor, which defines its Executor."""
    try:
        return importlib.import_module(f"{__name__}.{kind}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{kind}":
            raise  # the module is there; something it imports is not
        raise StudyError(
            f"there is no executor of kind {kind!r} (src/study_machinery/executors/{kind}.py), which a "
            "run's submitted.json names: put its module back, or delete that attempt folder."
        ) from None


def load(name: str, overrides: Sequence[str] = (), conf_dir: Path = paths.CONF_DIR) -> Executor:
    """conf/executor/NAME.yaml with the overrides (`executor.KEY=VALUE`), checked against the
    Settings of its kind: the kind's Executor, given them."""
    path = executor_dir(conf_dir) / f"{name}.yaml"
    shown = paths.shown(path)
    if not path.is_file():
        raise StudyError(f"executor {name!r}: there is no {shown} (executors: {', '.join(names(conf_dir))}).")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise StudyError(f"{shown} is not valid YAML: {error}") from None
    known = kinds()
    if not isinstance(content, dict) or content.get("kind") not in known:
        raise StudyError(f"{shown}: `kind` must be one of {', '.join(known)}.")
    engine_class = engine(content["kind"]).Executor
    schema = engine_class.Settings
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
        settings: Any = OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        # OmegaConf's first line names the key and the problem; the rest is its internals.
        where = f"{shown} with {' '.join(overrides)}" if overrides else shown
        raise StudyError(f"{where}: {str(error).splitlines()[0]}") from None
    if settings.kind != content["kind"]:
        raise StudyError(f"{shown}: `kind` is {content['kind']}, so it cannot be overridden.")
    engine_class.check(settings, content, shown)
    return engine_class(name, settings)


def _string_fields(schema: type) -> set[str]:
    return {f.name for f in fields(schema) if f.type in (str, str | None)}
