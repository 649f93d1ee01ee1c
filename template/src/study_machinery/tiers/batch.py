"""Runs handed to an executor together, and what became of each: a tier's runs (tier.py), or a
batch of a search's trials (search/tune.py).

Runs some job still holds are never run a second time beside it; every run given is executed or
named with its reason, and the counts are of the runs given.
"""

import sys
import time
from dataclasses import dataclass, field

from study_machinery import executors
from study_machinery.core.errors import StudyError
from study_machinery.executors import Submission, records
from study_machinery.runs.attempt import Outcome, research_warnings
from study_machinery.runs.plan import Planned
from study_machinery.tiers.progress import Progress


@dataclass(frozen=True)
class Batch:
    name: str  # what the executor calls it: a tier's name, its jobs' folder jobs/NAME/
    label: str  # how the output names it: runs@small, search@small
    command: str  # the machinery command that runs it again (and collects what a queue still has)
    what: str  # its runs in a sentence: "runs of tier small"


@dataclass
class Executed:
    done: int = 0
    given: int = 0
    failed: list[Outcome] = field(default_factory=list)

    def failure(self, where: str) -> str:
        """The error that names every failed run, for a StudyError."""
        others = "the others are recorded and will not run again; " if len(self.failed) < self.given else ""
        return (
            f"{len(self.failed)} of {self.given} runs of {where} failed; {others}each failed run's "
            "recorded files, if any, stay as they were:\n" + failures(self.failed)
        )


def execute_batch(
    batch: Batch,
    todo: list[Planned],
    executor: executors.Executor,
    kept: int = 0,
    rerun_all: bool = False,
    detach: bool = False,
    resubmit: bool = False,
) -> Executed:
    """Execute the runs `todo` on the executor (inside its session); `kept`: the runs not given,
    for the summary line. Failed runs are returned, not raised; a run some job still holds is."""
    # A forced re-run (--rerun-all) asks for every run again: a job's record in a finished run is
    # its history.
    executed = Executed(given=len(todo))
    held = records.sort(todo, history=rerun_all)
    if not executor.outlives or rerun_all:
        held.busy += [(run_, sub, "submitted") for run_, sub in held.waiting]
        held.waiting = []
    records.refuse_busy(batch.what, held.busy, "so they are not run again beside them")
    # Their jobs finished them since the plan was made: executed, elsewhere.
    finished = {run_.name for run_ in held.finished}
    todo = [run_ for run_ in todo if run_.name not in finished]
    for run_ in todo if rerun_all else ():
        run_.fresh = True  # nothing is resumed either: each attempt starts in an empty folder
    started = time.perf_counter()
    new, forced = todo, frozenset[str]()
    if executor.outlives:
        # A forced re-run submitted again is still one; it resumes from its own checkpoints.
        forced = frozenset(run_.name for run_, sub in held.ended if sub.forced)
        new = held.new + [run_ for run_, _ in held.ended] if resubmit or rerun_all else held.new
        if not (resubmit or rerun_all):
            executed.failed += [_ended(run_, sub) for run_, sub in held.ended]
    line = executor.submit(batch.name, new, forced) if new else None
    if line:
        print(f"{batch.label}: {line}", file=sys.stderr, flush=True)
    waiting = [run_ for run_, _ in held.waiting] + new
    if detach:
        print(_detached(batch, executor, len(held.waiting)), file=sys.stderr)
        if executed.failed:
            raise StudyError(
                f"{len(executed.failed)} {batch.what} ended in {executor.label} unfinished:\n"
                + failures(executed.failed)
            )
        return executed
    executed.done = len(finished)
    progress = Progress(batch.label, len(waiting))
    try:
        for event in executor.outcomes(batch.name, waiting):
            if isinstance(event, str):
                progress.note(event)
            progress.advance(1 if isinstance(event, Outcome) else 0)
            if isinstance(event, Outcome) and event.error is not None:
                executed.failed.append(event)
            executed.done += isinstance(event, Outcome) and event.error is None
    except KeyboardInterrupt:
        if not executor.outlives:
            raise
        raise StudyError(
            f"interrupted; the submitted runs go on in {executor.label}. `python -m study_machinery "
            f"{batch.command} executor={executor.name}` collects them later, submitting nothing twice."
        ) from None
    finally:
        progress.close()
    print(
        f"{batch.label}: {executed.done} runs executed in {time.perf_counter() - started:.1f} s, {kept} kept",
        file=sys.stderr,
    )
    warned = research_warnings([*todo, *held.finished])
    if warned:
        print(
            f"{batch.label}: your research code warned in {len(warned)} runs (their run.log has the rest):\n"
            + "\n".join(f"  {name}: {warning}" for name, warnings in warned.items() for warning in warnings),
            file=sys.stderr,
        )
    return executed


def _ended(run_: Planned, sub: Submission) -> Outcome:
    """A run whose job ended unfinished before this command looked, and which is not resubmitted."""
    engine = records.engine_of(sub)
    hint = records.NOT_RESUBMITTED + (records.KEEP_RECORDED if sub.forced else "")
    return Outcome(run_.name, f"{engine.label}: {engine.why_ended(sub)}; {hint}", records.written(sub.log))


def _detached(batch: Batch, executor: executors.Executor, waiting: int) -> str:
    lines = []
    if waiting:
        lines.append(f"{batch.label}: {waiting} runs submitted earlier are still in {executor.label}.")
    lines.append(
        f"Your shell is free. `python -m study_machinery status {batch.name}` shows where they are; "
        f"`python -m study_machinery {batch.command} executor={executor.name}` (or `dvc repro`, "
        "`nox -s record`) waits for what is left and collects it, submitting nothing twice."
    )
    return "\n".join(lines)


def failures(failed: list[Outcome], shown: int = 5) -> str:
    """The failed runs with their error and log, the same error said once (missing data fails them all)."""
    by_error: dict[str, list[Outcome]] = {}
    for outcome in failed:
        by_error.setdefault(outcome.error or "failed", []).append(outcome)
    lines = []
    for error, outcomes in by_error.items():
        names = ", ".join(o.name for o in outcomes[:shown]) + (
            f" and {len(outcomes) - shown} more" if len(outcomes) > shown else ""
        )
        logs = outcomes[0].log + (
            " (and the others' run.log)" if len(outcomes) > 1 and outcomes[0].log else ""
        )
        lines.append(f"  {names}: {error}" + (f"\n    log: {logs}" if logs else ""))
    return "\n".join(lines)
