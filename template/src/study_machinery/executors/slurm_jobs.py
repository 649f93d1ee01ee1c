"""What SLURM says of a tier's jobs: which are live (squeue), why a pending one waits, how an
ended one ended (sacct, scontrol or its log).

SLURM's accounting (sacct) is optional: where it is off, the reason comes from
`scontrol show job` (which remembers a job for minutes) or the job's log.
"""

import getpass
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.executors import Submission


def command(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess | None:
    """A SLURM command's result; None where SLURM's commands are not installed."""
    if shutil.which(args[0]) is None:
        return None
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise StudyError(f"`{' '.join(args)}` did not answer in {timeout:.0f} s: is SLURM up?") from None


def live_jobs(strict: bool = True) -> dict[str, str] | None:
    """This user's jobs that SLURM still holds, each array task apart, with why a pending one
    waits: {"812_3": "RUNNING", "812_4": "PENDING (Resources)", ...}.

    None where SLURM is not installed: no job of it can be writing here. A squeue that fails
    raises, unless not `strict` (for `status`), as a SLURM that cannot answer now may well have
    jobs running.
    """
    result = command("squeue", "--noheader", "--array", "--format=%i %T %r", f"--user={getpass.getuser()}")
    if result is None:
        return None
    if result.returncode != 0:
        if not strict:
            return None
        said = (result.stderr.strip() or result.stdout.strip() or "no message").splitlines()[-1]
        raise StudyError(
            f"squeue failed ({said}), so whether runs submitted to SLURM are still running is unknown: "
            "run this where SLURM answers, or delete their submitted.json (in VARIANT/seed_S.attempt/) "
            "if their jobs are gone."
        )
    jobs = {}
    for line in result.stdout.splitlines():
        job, status, reason = [*line.split(maxsplit=2), "", ""][:3]
        waits = status == "PENDING" and reason not in ("", "None")
        if job:
            jobs[job] = f"{status} ({reason})" if waits else status
    return jobs


# Why a job may be PENDING for good (squeue's %r): it asks for more than the partition or any
# node has, or than the account or QOS allows one job (SLURM's ...PerJob... limits). Every other
# reason (Resources, Priority, BeginTime, a group's limit, a hold, a node that is down) can end
# by itself or by someone's hand, so a tier goes on waiting, the reason in its progress line.
HOPELESS = {
    "BadConstraints",
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "DependencyNeverSatisfied",
    "InvalidAccount",
    "InvalidQOS",
}


def pending_reason(status: str) -> str | None:
    found = re.fullmatch(r"PENDING \((.+)\)", status)
    return found.group(1) if found else None


def hopeless(status: str) -> bool:
    """Whether a live job's status (live_jobs) says SLURM will never start it as it is."""
    reason = pending_reason(status)
    return reason is not None and (reason in HOPELESS or "PerJob" in reason)


def counts(statuses: list[str]) -> str:
    """'3 RUNNING, 9 PENDING (Resources)': the jobs a tier waits for, for its progress line."""
    return ", ".join(f"{count} {status}" for status, count in sorted(Counter(statuses).items()))


def _not_seen(submission: Submission, host: str | None) -> str:
    """A job that failed without a log: SLURM could not even open it, in the study's folder."""
    on = host if host and host not in ("None", "(null)") else "its node"
    return (
        f"FAILED before the study's code started: SLURM could not write its log into "
        f"{Path(submission.log).parent.as_posix()}/ on {on}, "
        f"so {on} most likely cannot see the study at {paths.ROOT} (the compute nodes must share that "
        "folder, at the same path; on NFS, a log written may also take a minute to show here)"
    )


# What slurmstepd writes into a job's log when it stops the job.
STOPPED = re.compile(r"\*\*\* JOB \S+ ON \S+ CANCELLED AT \S+(?: DUE TO ([A-Z ]+?))? \*\*\*")


DUE_TO = {None: "CANCELLED", "TIME LIMIT": "TIMEOUT", "PREEMPTION": "PREEMPTED", "NODE FAILURE": "NODE_FAIL"}


def _group(found: re.Match[str] | None) -> str | None:
    return found.group(1) if found else None


def why_ended(submission: Submission) -> str:
    """SLURM's word for how a job that left no result ended: CANCELLED, TIMEOUT, PREEMPTED, FAILED...

    From sacct where SLURM keeps accounts, else from scontrol (for a few minutes after the end),
    else from the job's log. A task of an array cancelled before it started has neither.
    """
    # (command, its job state, the host that ran it), where SLURM still knows the job.
    asked = (
        (
            (
                "sacct",
                "--noheader",
                "--allocations",
                "--parsable2",
                "--format=State,NodeList",
                "-j",
                submission.job,
            ),
            r"^(\w+)",
            r"^\w+\|(\S+)",
        ),
        (("scontrol", "show", "job", submission.job), r"JobState=(\w+)", r"BatchHost=(\S+)"),
    )
    log = paths.ROOT / submission.log
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else None
    errors = [
        line.removeprefix("error:").strip() for line in (text or "").splitlines() if line.startswith("error:")
    ]
    for args, state_pattern, host_pattern in asked:
        result = command(*args)
        said = result.stdout if result is not None and result.returncode == 0 else ""
        status, host = (_group(re.search(pattern, said, re.M)) for pattern in (state_pattern, host_pattern))
        if status and status not in ("PENDING", "RUNNING", "COMPLETING"):
            if status == "FAILED" and text is None:
                return _not_seen(submission, host)
            return f"{status}: {errors[-1]}" if status in ("FAILED", "COMPLETED") and errors else status
    if text is None:
        return "CANCELLED before it started"
    stopped = STOPPED.search(text)
    if stopped:
        return DUE_TO.get(stopped.group(1), f"CANCELLED DUE TO {stopped.group(1)}")
    if "oom_kill" in text or "oom-kill" in text:
        return "OUT_OF_MEMORY"
    return f"FAILED: {errors[-1]}" if errors else "ENDED without a result (see its log)"
