"""What the executors that outlive a tier command (a cluster's queue) still have of its runs.

Such an executor records, in each run's attempt folder, the job it gave the run (a Submission);
a finished run takes the record along into its folder, as its history. Whichever executor a
tier command uses, the runs some job still holds are never run a second time beside it: they
are waited for when the same executor is asked again, refused otherwise.
"""

from dataclasses import dataclass

from study_machinery import executors
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.executors import Submission
from study_machinery.runs.plan import Planned, state

# Every run whose job ended unfinished (cancelled, timed out, preempted, failed) gets this hint.
NOT_RESUBMITTED = "not resubmitted (add --resubmit)"
# A forced re-run that ended so blocks the tier until then; the result it would replace is whole.
KEEP_RECORDED = "; to keep its recorded result instead, delete its attempt folder (VARIANT/seed_S.attempt)"
# Why a run whose folder holds a current result is still to do: its forced re-run is submitted.
FORCED = "--rerun-all submitted"


@dataclass
class Held:
    """A tier's runs to do, by what the executors that outlive a command have of them."""

    waiting: list[tuple[Planned, Submission]]  # submitted with this identity, still held
    busy: list[tuple[Planned, Submission, str]]  # held under an older identity (with its state)
    ended: list[tuple[Planned, Submission]]  # submitted with this identity, ended unfinished
    new: list[Planned]  # never submitted, or submitted under an older identity that ended
    finished: list[Planned]  # its job finished it since the tier command looked


def submission(run_: Planned) -> Submission | None:
    """The record of the job that has the run, in its attempt folder."""
    return Submission.of(paths.attempt_dir(run_.folder))


def written(log: str) -> str:
    """A job's log to point to, or none where it was never written (a job that never started)."""
    return log if log and (paths.ROOT / log).is_file() else ""


def engine_of(record: Submission) -> type[executors.Executor]:
    return executors.engine(record.executor).Executor


def live(records: list[Submission], strict: bool = True) -> dict[str, str] | None:
    """The jobs the records' executors still hold, by job id with its state; None where none
    of those executors is here to ask (its commands are not installed, or it does not answer
    and not `strict`)."""
    found: dict[str, str] | None = None
    for kind in sorted({record.executor for record in records}):
        jobs = executors.engine(kind).Executor.live(strict)
        if jobs is not None:
            found = {**(found or {}), **jobs}
    return found


def sort(todo: list[Planned], history: bool = False) -> Held:
    """The runs to do by what their jobs are doing. With `history` (--rerun-all), a run whose
    folder holds a result is to do again, not one that its job finished since the plan was made."""
    records = {run_.name: submission(run_) for run_ in todo}
    submitted = [record for record in records.values() if record is not None]
    jobs = (live(submitted) if submitted else None) or {}
    result = Held([], [], [], [], [])
    for run_ in todo:
        record = records[run_.name]
        if record is None:
            # A finished job's attempt became the run's folder: between the plan and now, if so.
            finished = not history and state(run_)[0] == "done"
            (result.finished if finished else result.new).append(run_)
        elif record.job in jobs:
            if record.identity == run_.identity.key:
                result.waiting.append((run_, record))
            else:
                result.busy.append((run_, record, jobs[record.job]))
        elif finished_by(run_, record):
            result.finished.append(run_)
        elif record.identity == run_.identity.key:
            result.ended.append((run_, record))
        else:
            result.new.append(run_)
    return result


def finished_by(run_: Planned, record: Submission) -> bool:
    """Whether the run is done and no longer waits for that job: the job's attempt replaced the
    run's folder (taking its record along), or the job found the run done and let it be."""
    pending = submission(run_)
    return state(run_)[0] == "done" and (pending is None or pending.job != record.job)


def with_forced(planned: list[Planned], states: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """The runs' states, a done run whose forced re-run is submitted counted as still to do."""
    forced = {run_.name for run_ in planned if (record := submission(run_)) and record.forced}
    return [
        ("stale", [FORCED]) if status == "done" and run_.name in forced else (status, why)
        for run_, (status, why) in zip(planned, states, strict=True)
    ]


def whereabouts(runs: list[Planned]) -> dict[str, str]:
    """For `status`: what the executors have of each submitted run that is not done (by run name)."""
    submitted = [(run_, record) for run_ in runs if (record := submission(run_)) is not None]
    jobs = live([record for _, record in submitted], strict=False) if submitted else {}
    said = {}
    for run_, record in submitted:
        label = engine_of(record).label
        older = "" if record.identity == run_.identity.key else ", of an older identity"
        if jobs is None:
            said[run_.name] = f"submitted as {label} job {record.job}; {label} does not answer here"
        elif record.job in jobs:
            said[run_.name] = f"{label} job {record.job}, {jobs[record.job]}{older}"
        elif older:
            said[run_.name] = f"{label} job {record.job} ended{older}"
        else:
            said[run_.name] = f"{label} job {record.job}: {engine_of(record).why_ended(record)}"
    return said


def refuse_busy(what: str, busy: list[tuple[Planned, Submission, str]], doing: str) -> None:
    """`what`: the runs in a sentence, "runs of tier small"."""
    if busy:
        engine = engine_of(busy[0][1])
        jobs = ", ".join(f"{run_.name} (job {sub.job}, {status})" for run_, sub, status in busy)
        raise StudyError(
            f"{len(busy)} {what} are still {engine.label} jobs, {doing}: {jobs}. "
            f"Wait for them to end, or cancel them ({engine.cancel}); then run the command again."
        )
