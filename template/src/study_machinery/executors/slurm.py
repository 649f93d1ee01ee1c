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

from study_machinery import executors
from study_machinery.core.errors import StudyError
from study_machinery.executors import Submission, slurm_jobs, slurm_settings, slurm_submit
from study_machinery.executors.records import KEEP_RECORDED, NOT_RESUBMITTED, finished_by, submission, written
from study_machinery.executors.slurm_jobs import hopeless
from study_machinery.runs.attempt import Outcome
from study_machinery.runs.plan import Planned


class Executor(executors.Executor):
    label = "SLURM"
    outlives = True
    cancel = "`scancel` them"
    Settings = slurm_settings.Slurm
    settings: slurm_settings.Slurm
    check = staticmethod(slurm_settings.check)

    def session(self, name: str) -> contextlib.AbstractContextManager:
        return slurm_submit.submitting(name)

    def submit(self, name: str, runs: list[Planned], forced: frozenset[str]) -> str:
        job = slurm_submit.submit(name, runs, self.settings, forced)
        return f"{len(runs)} runs submitted as SLURM job array {job}; logs in jobs/{name}/"

    def outcomes(self, name: str, runs: list[Planned]) -> Iterator[Outcome | str]:
        # Each run given is submitted: its record is in its attempt folder.
        waiting = [(run_, record) for run_ in runs if (record := submission(run_)) is not None]
        records = {run_.name: record for run_, record in waiting}
        for run_, why in wait(waiting, self.settings.poll_seconds):
            if run_ is None:
                yield f"in SLURM: {why}"
            elif why is None:
                yield Outcome(run_.name)
            elif why.startswith("PENDING"):
                yield Outcome(run_.name, f"SLURM: {why}")  # it never started: no log
            else:
                record = records[run_.name]
                hint = NOT_RESUBMITTED + (KEEP_RECORDED if record.forced else "")
                yield Outcome(run_.name, f"SLURM: {why}; {hint}", written(record.log))

    @staticmethod
    def live(strict: bool = True) -> dict[str, str] | None:
        return slurm_jobs.live_jobs(strict)

    @staticmethod
    def why_ended(record: Submission) -> str:
        return slurm_jobs.why_ended(record)


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
                why = slurm_jobs.why_ended(sub)
                # A job that ended well wrote its run's result, which a shared filesystem may
                # show here only after its attribute cache expires (up to a minute on NFS).
                ended_well = why.startswith(("COMPLETED", "ENDED")) and _appears(run_, sub, within=NFS_DELAY)
                yield run_, None if ended_well else why
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
