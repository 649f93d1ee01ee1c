"""One planned run executed in its attempt folder, and what a tier learns of it (an Outcome).

Every executor runs a tier's runs through `execute`: in a worker process (local cores), in this
process (basic), in a Ray task, or in a SLURM job (`python -m study_machinery job`). A run
executes in an attempt folder beside its own (paths.attempt_dir), which replaces the run's
folder only once the run has finished: a run killed in flight, or failed, leaves the recorded
result as it was.
"""

import contextlib
import logging
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from study_machinery import contract
from study_machinery.core import paths
from study_machinery.core.errors import StudyError, first_line
from study_machinery.runs import execution, ranks
from study_machinery.runs.folder import prepare_attempt, swap_in
from study_machinery.runs.plan import Planned, planned_from

# Without a terminal (CI, a SLURM log), a progress line at least this often, in seconds.
LOG_EVERY = 30.0


# A record of run.log, as `execute` writes it, and what research_warnings reads back of one.
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


LOGGED = re.compile(
    r"^\[[^\]]*\]\[(?P<logger>[\w.]+)\]\[(?:WARNING|ERROR|CRITICAL)\] - (?P<message>.*)$", re.M
)


@dataclass
class Outcome:
    name: str
    error: str | None = None
    log: str = ""


def execute(run_: Planned, keep: frozenset[str] = frozenset()) -> Outcome:
    """Run one planned run, its log in run.log; never raises for a run's error.

    It executes in its attempt folder, which replaces the run's folder once it has finished:
    until then, the result recorded there stays whole, whatever happens to the attempt.
    """
    try:
        attempt = prepare_attempt(run_.folder, run_.identity, keep, fresh=run_.fresh)
    except OSError as error:  # a folder that cannot be moved or emptied (a file held open elsewhere)
        return Outcome(run_.name, f"its attempt folder could not be made ready: {first_line(error)}")
    if attempt is None:
        return Outcome(run_.name)  # it had finished, and was stopped before it replaced its folder
    log_file = attempt / paths.RUN_LOG
    with _logged(log_file):
        try:
            execution.perform(
                run_.config,
                run_.resolved,
                attempt,
                run_.identity,
                run_.tier,
                recorded_as=run_.folder,
                overrides=run_.overrides,
            )
        except Exception as error:  # a run's failure is reported by name; the others go on
            logging.getLogger(__name__).error("%s failed:\n%s", run_.name, traceback.format_exc())
            return Outcome(run_.name, first_line(error), paths.shown(log_file))
    try:
        swap_in(attempt, run_.folder)
    except OSError as error:
        return Outcome(
            run_.name,
            f"it finished, but its attempt could not replace the run's folder ({first_line(error)}); "
            "the next tier command puts it in place without running it again",
            paths.shown(log_file),
        )
    return Outcome(run_.name)


@contextlib.contextmanager
def _logged(log_file: Path, rank: int = 0) -> Iterator[None]:
    """This process's log records in a run's run.log while held: all of them, as LOG_FORMAT
    writes them; in a process of a run of several other than rank 0, its warnings and errors
    only, each saying its rank."""
    handler = logging.FileHandler(log_file, encoding="utf-8")
    said = LOG_FORMAT if rank == 0 else LOG_FORMAT.replace(" - ", f" - rank {rank}: ", 1)
    handler.setFormatter(logging.Formatter(said))
    handler.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def execute_rank(overrides: list[str], folder: Path, attempt: Path, key: str, tier: str | None) -> None:
    """One process of a run of several (runs/ranks.py), as `python -m study_machinery rank` runs it.

    Its config composed from the overrides the run was planned with, and checked to be the
    very run planned (its identity); rank 0 executes and records it, the others train with it.
    """
    ranks.die_with_parent()
    here = ranks.Part.here()
    with _logged(attempt / paths.RUN_LOG, here.rank):
        try:
            run_ = planned_from(overrides, folder, tier)
            if run_.identity.key != key:
                raise StudyError(
                    f"{run_.name}: its config, code, data or environment changed while its processes "
                    "started: not run. Start it again."
                )
            if here.rank == 0:
                execution.perform(
                    run_.config, run_.resolved, attempt, run_.identity, tier, recorded_as=folder, part=here
                )
            else:
                contract.load()
                contract.run(run_.config, attempt, _not_recorded)
                here.report()
        except BaseException as error:
            logging.getLogger(__name__).error("process %d failed:\n%s", here.rank, traceback.format_exc())
            here.failed(error)
            raise


def _not_recorded(epoch: int, scores: dict[str, float]) -> None:
    """The on_epoch of the processes other than rank 0, whose scores rank 0's are (the same model)."""


def research_warnings(runs: list[Planned]) -> dict[str, list[str]]:
    """What the research code warned of in each run (a checkpoint it could not use), by run name.

    From the run.log of each run, finished (its folder) or not (its attempt): on every
    executor, SLURM's jobs included, the tier's output says what only the run's log would.
    """
    package = contract.PACKAGE
    warned = {}
    for run_ in runs:
        # An attempt that is still there is the run's latest (the recorded folder is older).
        attempt = paths.attempt_dir(run_.folder)
        log = (attempt if attempt.is_dir() else run_.folder) / paths.RUN_LOG
        if not log.is_file():
            continue
        text = log.read_text(encoding="utf-8", errors="replace")
        found = [
            match["message"]
            for match in LOGGED.finditer(text)
            if match["logger"] == package or match["logger"].startswith(f"{package}.")
        ]
        if found:
            # A resumed attempt's log holds its earlier tries' too: each warning said once.
            warned[run_.name] = list(dict.fromkeys(found))
    return warned
