"""A tier's runs on a SLURM cluster: one job array per submission, one run per array task.

The tier command writes a job script to jobs/TIER/, submits it with sbatch and records in
each run's attempt folder (paths.attempt_dir) which array task runs it (submitted.json); a
finished run takes that record along into its folder, as its history (slurm_submit.py). Each
task re-plans its run from the study's files and runs it only if its identity is still the one
submitted (`python -m study_machinery job`), so a config or code edited after submitting is
never run under the old name. The results are the run folders themselves, as with every
executor.

A tier command (or `dvc repro`, or `nox -s record`) given runs that are already submitted
waits for them rather than submitting them again; `--detach` submits and returns. A run whose
job ended without finishing (cancelled, timed out, preempted, failed) is reported by name with
SLURM's reason (slurm_jobs.py), and submitted again only with `--resubmit`.
"""

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.executors import slurm_jobs
from study_machinery.executors.slurm_jobs import Submission, hopeless, why_ended
from study_machinery.runs.plan import Planned, state


@dataclass
class Sorted:
    """A tier's runs to do, by what SLURM has of them."""

    waiting: list[tuple[Planned, Submission]]  # submitted with this identity, still in SLURM
    busy: list[tuple[Planned, Submission, str]]  # in SLURM under an older identity (with its state)
    ended: list[tuple[Planned, Submission]]  # submitted with this identity, ended unfinished
    new: list[Planned]  # never submitted, or submitted under an older identity that ended
    finished: list[Planned]  # its job finished it since the tier command looked


def sort(todo: list[Planned], history: bool = False) -> Sorted:
    """The runs to do by what SLURM has of them. With `history` (--rerun-all), a run whose folder
    holds a result is to do again, not one that its job finished since the plan was made."""
    submissions = {run_.name: submission_of(run_) for run_ in todo}
    live = (slurm_jobs.live_jobs() if any(submissions.values()) else None) or {}
    result = Sorted([], [], [], [], [])
    for run_ in todo:
        submission = submissions[run_.name]
        if submission is None:
            # A finished job's attempt became the run's folder: between the plan and now, if so.
            finished = not history and state(run_)[0] == "done"
            (result.finished if finished else result.new).append(run_)
        elif submission.job in live:
            if submission.identity == run_.identity.key:
                result.waiting.append((run_, submission))
            else:
                result.busy.append((run_, submission, live[submission.job]))
        elif finished_by(run_, submission):
            result.finished.append(run_)
        elif submission.identity == run_.identity.key:
            result.ended.append((run_, submission))
        else:
            result.new.append(run_)
    return result


# Why a run whose folder holds a current result is still to do: its forced re-run is in SLURM.
FORCED = "--rerun-all submitted"


def forced(run_: Planned) -> bool:
    """Whether the run's attempt was submitted by --rerun-all (and has not replaced it yet)."""
    submission = Submission.of(paths.attempt_dir(run_.folder))
    return submission is not None and submission.forced


def with_forced(planned: list[Planned], states: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """The runs' states, a done run whose forced re-run is in SLURM counted as still to do."""
    return [
        ("stale", [FORCED]) if status == "done" and forced(run_) else (status, why)
        for run_, (status, why) in zip(planned, states, strict=True)
    ]


def submission_of(run_: Planned) -> Submission | None:
    """The record of the job that has the run: in its attempt, or, where template 0.4 submitted
    it, in the run's own folder while that holds no finished run."""
    found = Submission.of(paths.attempt_dir(run_.folder))
    if found is None and not (run_.folder / paths.RUN_METRICS).exists():
        found = Submission.of(run_.folder)
    return found


def finished_by(run_: Planned, submission: Submission) -> bool:
    """Whether the run is done and no longer waits for that job: the job's attempt replaced the
    run's folder (taking its record along), or the job found the run done and let it be."""
    pending = submission_of(run_)
    return state(run_)[0] == "done" and (pending is None or pending.job != submission.job)


def whereabouts(runs: list[Planned]) -> dict[str, str]:
    """For `status`: what SLURM has of each submitted run that is not done (by run name)."""
    submitted = [(run_, sub) for run_ in runs if (sub := submission_of(run_)) is not None]
    live = slurm_jobs.live_jobs(strict=False) if submitted else {}
    said = {}
    for run_, sub in submitted:
        older = "" if sub.identity == run_.identity.key else ", of an older identity"
        if live is None:
            said[run_.name] = f"submitted as SLURM job {sub.job}; SLURM does not answer here"
        elif sub.job in live:
            said[run_.name] = f"SLURM job {sub.job}, {live[sub.job]}{older}"
        elif older:
            said[run_.name] = f"SLURM job {sub.job} ended{older}"
        else:
            said[run_.name] = f"SLURM job {sub.job}: {why_ended(sub)}"
    return said


def refuse_busy(tier: str, busy: list[tuple[Planned, Submission, str]], doing: str) -> None:
    if busy:
        jobs = ", ".join(f"{run_.name} (job {sub.job}, {status})" for run_, sub, status in busy)
        raise StudyError(
            f"{len(busy)} runs of tier {tier} are still SLURM jobs, {doing}: {jobs}. "
            "Wait for them to end, or `scancel` them; then run the tier again."
        )


def wait(
    waiting: list[tuple[Planned, Submission]], poll_seconds: float
) -> Iterator[tuple[Planned | None, str | None]]:
    """Each waited-for run as its job ends: (run, None) when it finished, (run, why) when not,
    and when SLURM will never start it (a hopeless pending reason: the job stays in SLURM).

    Yields (None, the jobs' states) after each look at SLURM, for the progress line.
    """
    left = {sub.job: (run_, sub) for run_, sub in waiting}
    while left:
        live = _ask_patiently(poll_seconds)
        for job, (run_, sub) in list(left.items()):
            if finished_by(run_, sub):
                del left[job]
                yield run_, None
            elif job in live and hopeless(live[job]):
                del left[job]
                array = job.split("_")[0]
                yield (
                    run_,
                    (
                        f"{live[job]}, which SLURM never starts: no node or limit allows what the job asks. "
                        f"`scancel {array}`, then run the tier again with executor settings the partition "
                        "can satisfy (memory_per_run, cpus_per_run, time_limit, partition) and --resubmit"
                    ),
                )
            elif job not in live:
                del left[job]
                why = why_ended(sub)
                # A job that ended well wrote its run's result, which a shared filesystem may
                # show here only after its attribute cache expires (up to a minute on NFS).
                if why.startswith(("COMPLETED", "ENDED")) and _appears(run_, sub, within=NFS_DELAY):
                    why = None
                yield run_, why
        if left:
            yield None, slurm_jobs.counts([live.get(job, "ENDING") for job in left])
            time.sleep(poll_seconds)


# How long a file written on a compute node may take to show on a login node (NFS's attribute cache).
NFS_DELAY = 60.0


def _appears(run_: Planned, sub: Submission, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            os.listdir(run_.folder)  # reading the folder renews NFS's view of it
        if finished_by(run_, sub):
            return True
        time.sleep(2)
    return False


def _ask_patiently(poll_seconds: float, tries: int = 4) -> dict[str, str]:
    """squeue's answer; a controller too busy to answer once does not end a wait of hours."""
    for attempt in range(tries):
        try:
            return slurm_jobs.live_jobs() or {}
        except StudyError:
            if attempt == tries - 1:
                raise
            time.sleep(max(poll_seconds, 5) * 2**attempt)
    return {}


def detached_message(tier: str, job: str | None, submitted: int, waiting: int) -> str:
    lines = []
    if submitted:
        lines.append(
            f"runs@{tier}: {submitted} runs submitted as SLURM job array {job}; logs in jobs/{tier}/."
        )
    if waiting:
        lines.append(f"runs@{tier}: {waiting} runs submitted earlier are still in SLURM.")
    lines.append(
        f"Your shell is free. `python -m study_machinery status {tier}` shows where they are; "
        f"`python -m study_machinery tier {tier} executor=slurm` (or `dvc repro`, `nox -s record`) "
        "waits for what is left and collects it, submitting nothing twice."
    )
    return "\n".join(lines)
