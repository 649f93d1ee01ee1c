"""Experiment trackers: each run of a tier also logs to the trackers conf/tracking.yaml names.

Per run, each tracker gets the resolved config as params; variant, seed, tier and the run's
identity as tags; each epoch's scores (core/epochs.py); the final metrics; and the path of the run's
run.json, its provenance. A tier's runs are grouped: one MLflow experiment (PROJECT/TIER) and
one W&B group (TIER) per tier, and one DVCLive folder per run (runs/TIER/VARIANT/seed_S/dvclive/),
listed in results/TIER/dvc.yaml so that `dvc plots` and `dvc exp show` find them.

Offline and local by default: MLflow writes to a SQLite file in tracking/, W&B to offline run
folders in tracking/wandb/ (`wandb sync` uploads them later), DVCLive to files; git ignores
tracking/ and DVC keeps runs/. No key or password is read or written here: W&B online and MLflow
servers take theirs from their own login files or the environment.

A tracker never costs a result: one that is not installed, misconfigured or failing is named in
a warning and left out of the run (and of the later runs of the same process); the run's own
records are written all the same. `STUDY_TRACKING=off` in the environment turns every tracker
off (`nox -s reproduce` sets it in its clone, and the study's tests for their runs).
"""

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from study_machinery.core import paths
from study_machinery.core.errors import first_line
from study_machinery.tracking.settings import Context, Settings, Tracker, active, switched_off

log = logging.getLogger(__name__)


# Trackers that failed in this process: left out of its later runs, after one warning. The
# environment passes them on to the worker processes and jobs a tier starts after the failure.
FAILED = "STUDY_TRACKING_FAILED"
_failed: set[Tracker] = set()


def failed() -> set[Tracker]:
    inherited = {
        Tracker(name) for name in os.environ.get(FAILED, "").split(",") if name in Tracker.__members__
    }
    return _failed | inherited


def _warn(tracker: Tracker, what: str) -> None:
    message = f"tracker {tracker.value}: {what}; the runs are recorded without it."
    log.warning(message)
    if tracker not in failed():
        print(f"warning: {message}", file=sys.stderr, flush=True)
    _failed.add(tracker)
    os.environ[FAILED] = ",".join(sorted(t.value for t in failed()))


class Run:
    """One run's trackers, each fed on its own: one that raises is dropped with a warning."""

    def __init__(self, loggers: dict[Tracker, Any]) -> None:
        self.loggers = loggers  # each tracker's logger: its epoch, finish and fail

    def _each(self, action: Callable[[Any], None]) -> None:
        for tracker, logger in list(self.loggers.items()):
            try:
                action(logger)
            except Exception as error:  # a tracker's failure never stops the run
                del self.loggers[tracker]
                _warn(tracker, first_line(error))
                with contextlib.suppress(Exception):  # its run marked failed, if it still can be
                    logger.fail()

    def epoch(self, epoch: int, scores: dict[str, float]) -> None:
        self._each(lambda logger: logger.epoch(epoch, scores))

    def finish(self, metrics: dict[str, float]) -> None:
        self._each(lambda logger: logger.finish(metrics))

    def fail(self) -> None:
        self._each(lambda logger: logger.fail())


def _open(tracker: Tracker, settings: Settings, context: Context) -> object:
    if tracker is Tracker.dvclive:
        from study_machinery.tracking.dvclive_run import DVCLiveRun

        return DVCLiveRun(context)
    if tracker is Tracker.mlflow:
        from study_machinery.tracking.mlflow_run import MLflowRun

        return MLflowRun(settings.mlflow, context)
    from study_machinery.tracking.wandb_run import WandbRun

    return WandbRun(settings.wandb, context)


@contextlib.contextmanager
def tracked(
    tier: str | None, resolved: dict, identity: str, folder: Path, recorded_as: Path
) -> Iterator[Run]:
    """The trackers of one run of a tier (none for a run by hand, whose tier is None)."""
    settings = active() if tier is not None else Settings()
    context = Context(
        settings.project,
        tier or "",
        resolved["variant"],
        resolved["seed"],
        identity,
        resolved,
        folder,
        recorded_as,
    )
    loggers = {}
    for tracker in settings.trackers:
        if tracker in failed():
            continue
        try:
            loggers[tracker] = _open(tracker, settings, context)
        except ImportError as error:
            _warn(
                tracker, f"cannot be imported (`uv sync --group tracking` installs it): {first_line(error)}"
            )
        except Exception as error:  # misconfigured or unreachable: warned about, never fatal
            _warn(tracker, first_line(error))
    run = Run(loggers)
    try:
        yield run
    except BaseException:
        run.fail()
        raise


def prepare(tier: str) -> None:
    """Before a tier's runs start, in the tier's own process: what the workers must not race on.

    MLflow's store and the tier's experiment are created here, once: workers creating the
    experiment at once collide, and workers creating a new SQLite store at once can break it.
    """
    settings = active()
    if Tracker.mlflow in settings.trackers and Tracker.mlflow not in failed():
        try:
            from study_machinery.tracking.mlflow_run import experiment_id

            experiment_id(settings.mlflow, f"{settings.project}/{tier}")
        except ImportError as error:
            _warn(
                Tracker.mlflow,
                f"cannot be imported (`uv sync --group tracking` installs it): {first_line(error)}",
            )
        except Exception as error:
            _warn(Tracker.mlflow, first_line(error))


def index(tier: str, folders: list[Path]) -> None:
    """After a tier: the list of its runs' DVCLive files that DVC reads (results/TIER/dvc.yaml).

    Rewritten whether DVCLive is still chosen or not, so that it lists only files that exist.
    """
    if switched_off():
        return
    try:
        from study_machinery.tracking.dvclive_run import index as write_index

        write_index(paths.results_dir(tier), folders)
    except Exception as error:  # the runs are recorded; only DVC's view of them is missing
        _warn(Tracker.dvclive, f"results/{tier}/dvc.yaml not written: {first_line(error)}")
