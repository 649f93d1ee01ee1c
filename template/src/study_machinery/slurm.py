"""A tier's runs on a SLURM cluster: one job array per submission, one run per array task.

The tier command writes a job script to jobs/TIER/, submits it with sbatch and records in
each run's attempt folder (paths.attempt_dir) which array task runs it (submitted.json); a
finished run takes that record along into its folder, as its history. Each task re-plans its run from
the study's files and runs it only if its identity is still the one submitted (`python -m
study_machinery job`), so a config or code edited after submitting is never run under the
old name. The results are the run folders themselves, as with every executor.

A tier command (or `dvc repro`, or `nox -s record`) given runs that are already submitted
waits for them rather than submitting them again; `--detach` submits and returns. A run whose
job ended without finishing (cancelled, timed out, preempted, failed) is reported by name with
SLURM's reason, and submitted again only with `--resubmit`.

SLURM's accounting (sacct) is optional: where it is off, the reason comes from
`scontrol show job` (which remembers a job for minutes) or the job's log.
"""

import contextlib
import getpass
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from . import paths, run, tracking
from .errors import StudyError
from .executors import Slurm, run_environment
from .plan import Planned, state

# Beside a run's results: which array task was given it, under which identity.
SUBMITTED = "submitted.json"
JOBS_DIR = paths.ROOT / "jobs"
# Filesystems that only the machine that mounts them can see.
LOCAL_ONLY = {"tmpfs", "ramfs", "devtmpfs"}


@dataclass
class Submission:
    job: str  # ARRAYJOB_TASK, e.g. "812_3"
    identity: str  # the run's identity key when it was submitted
    log: str  # the job's output, as shown from the study's root
    submitted: str
    # Submitted by --rerun-all: run even where the run's folder holds a result of this identity.
    forced: bool = False

    @classmethod
    def of(cls, folder: Path) -> "Submission | None":
        try:
            return cls(**json.loads((folder / SUBMITTED).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


def _command(*args: str, timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess | None:
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
    result = _command("squeue", "--noheader", "--array", "--format=%i %T %r", f"--user={getpass.getuser()}")
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


def _counts(statuses: list[str]) -> str:
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
        result = _command(*args)
        said = result.stdout if result is not None and result.returncode == 0 else ""
        status, host = (re.search(pattern, said, re.M) for pattern in (state_pattern, host_pattern))
        status, host = status and status.group(1), host and host.group(1)
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
    live = (live_jobs() if any(submissions.values()) else None) or {}
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
    if found is None and not (run_.folder / "metrics.json").exists():
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
    live = live_jobs(strict=False) if submitted else {}
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


def check_shared(settings: Slurm, python: Path) -> None:
    """What the compute nodes must see at the same paths: the study, its environment, its data.

    A path on a filesystem that only this machine mounts (tmpfs) is refused when the partition
    has nodes other than this one; the job itself checks again on its node before it starts.
    """
    needed = {"the study": paths.ROOT, "its environment": python, "its data": paths.ROOT / "data"}
    for what, path in needed.items():
        if not path.exists():
            raise StudyError(f"{what} is not at {path}: nothing was submitted.")
    nodes = partition_nodes(settings.partition)
    if nodes and nodes <= {socket.gethostname(), socket.getfqdn()}:
        return  # every job runs here
    for what, path in needed.items():
        kind = filesystem(path.resolve())
        if kind in LOCAL_ONLY:
            raise StudyError(
                f"{what} is at {path.resolve()}, on a {kind} that only this machine sees, and the jobs "
                f"may run on {', '.join(sorted(nodes)[:3])}...: move the study to a filesystem the "
                "compute nodes share (your home or project space). Nothing was submitted."
            )


def partition_nodes(partition: str | None) -> set[str]:
    args = ["sinfo", "--noheader", "--format=%N"] + ([f"--partition={partition}"] if partition else [])
    listed = _command(*args)
    if listed is None or listed.returncode != 0 or not listed.stdout.strip():
        return set()
    names = _command("scontrol", "show", "hostnames", ",".join(listed.stdout.split()))
    return set(names.stdout.split()) if names is not None and names.returncode == 0 else set()


def filesystem(path: Path) -> str:
    """The type of the filesystem a path is on, from the longest mount point above it (Linux)."""
    best, kind = "", "unknown"
    mounts = Path("/proc/self/mounts")
    for line in mounts.read_text().splitlines() if mounts.is_file() else []:
        _, point, fstype = line.split()[:3]
        point = point.replace("\\040", " ")
        if (path.as_posix() + "/").startswith(point.rstrip("/") + "/") and len(point) >= len(best):
            best, kind = point, fstype
    return kind


def environment() -> Path:
    """The study's .venv, brought to uv.lock: the jobs run it (a nox session's is remade each time)."""
    uv = shutil.which("uv")
    if uv is None:
        raise StudyError("uv is not on PATH: it makes the environment the jobs run. Nothing was submitted.")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    # --inexact: keep what else is installed there (the dev tools); --frozen: exactly uv.lock.
    groups = [f"--group={group}" for group in ("pipeline", *tracking.groups())]
    result = subprocess.run(
        [uv, "sync", "--frozen", "--inexact", *groups, "--quiet"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        said = (result.stderr.strip() or "no message").splitlines()[-1]
        raise StudyError(f"`uv sync` failed, so nothing was submitted: {said}")
    return paths.ROOT / ".venv" / "bin" / "python"


def script(tier: str, runs: list[Planned], settings: Slurm, python: Path) -> str:
    """The job array's sbatch script: task i runs runs[i] (variant, seed, identity)."""
    threads = max(run_.resolved["threads"] for run_ in runs)
    array = f"0-{len(runs) - 1}" + (f"%{settings.max_parallel}" if settings.max_parallel else "")
    name = re.sub(r"[^\w.-]", "_", f"{paths.ROOT.name}-{tier}")
    options = [
        f"--job-name={name}",
        f"--array={array}",
        "--ntasks=1",
        f"--cpus-per-task={settings.cpus_per_run or threads}",
        f"--mem={settings.memory_per_run}",
        f"--time={settings.time_limit}",
        # Relative to the folder sbatch is run from, the study's root: no path with spaces here.
        f"--output={log_folder(tier).relative_to(paths.ROOT).as_posix()}/%A_%a.out",
    ]
    options += [f"--partition={settings.partition}"] if settings.partition else []
    options += [f"--account={settings.account}"] if settings.account else []
    options += [f"--gres=gpu:{settings.gpus_per_run}"] if settings.gpus_per_run else []
    options += settings.sbatch_options
    root, py = shlex.quote(str(paths.ROOT)), shlex.quote(str(python))
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in run_environment().items())

    def array_of(values: list) -> str:
        return " ".join(shlex.quote(str(value)) for value in values)

    lines = [
        "#!/bin/bash",
        f"# Tier {tier} of the study at {paths.ROOT}: {len(runs)} runs, one per array task.",
        f"# Written and submitted by `python -m study_machinery tier {tier}` (src/study_machinery/slurm.py).",
        *(f"#SBATCH {option}" for option in options),
        "",
        "# The study, its environment and its data must be visible here, at the same paths.",
        f'if ! cd {root}; then echo "error: $(hostname) cannot see the study at {root}"; exit 3; fi',
        f'if [ ! -x {py} ]; then echo "error: $(hostname) cannot see the environment {py}"; exit 3; fi',
        *settings.setup,
        f"VARIANTS=({array_of([run_.variant for run_ in runs])})",
        f"SEEDS=({array_of([run_.seed for run_ in runs])})",
        f"IDENTITIES=({array_of([run_.identity.key for run_ in runs])})",
        "i=$SLURM_ARRAY_TASK_ID",
        f"export {exports}",
        f"exec {py} -m study_machinery job {shlex.quote(tier)} "
        + '"${VARIANTS[$i]}" "${SEEDS[$i]}" "${IDENTITIES[$i]}"',
        "",
    ]
    return "\n".join(lines)


def log_folder(tier: str) -> Path:
    return JOBS_DIR / tier


@contextlib.contextmanager
def submitting(tier: str) -> Iterator[None]:
    """One tier command at a time submits a tier's runs: two would both see a run as new."""
    import fcntl  # POSIX only, as is SLURM

    folder = log_folder(tier)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StudyError(
                f"another tier command is submitting or collecting tier {tier} (it holds "
                f"{paths.shown(folder / '.lock')}): let it finish, or stop it first."
            ) from None
        yield


def submit(tier: str, runs: list[Planned], settings: Slurm, forced: frozenset[str] = frozenset()) -> str:
    """Submit the runs as one job array; record the task of each in its folder. Returns the job id.

    The array is submitted held and released only once every run's folder records its task, so
    that no job starts before the record that keeps it from being submitted twice; if recording
    fails, the array is cancelled. The records go in the runs' attempt folders, never in their
    own: a recorded result stays until its job has finished the run again. The attempt of a run
    to start afresh (`--rerun-all`) is emptied then; one named in `forced` (a forced re-run
    submitted again) is resumed, and run although the run's folder holds a result.
    """
    python = environment()
    check_shared(settings, python)
    folder = log_folder(tier)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".sbatch", delete=False) as file:
        file.write(script(tier, runs, settings, python))
    path = Path(file.name)
    result = _command("sbatch", "--parsable", "--hold", str(path), cwd=paths.ROOT)
    if result is None:
        path.unlink()
        raise StudyError("sbatch is not on PATH: run the tier command on the cluster's login node.")
    if result.returncode != 0:
        path.unlink()
        said = (result.stderr.strip() or result.stdout.strip() or "no message").splitlines()[-1]
        if "gres" in said and settings.gpus_per_run:
            asked = settings.gpus_per_run
            said += f" (it asked for {asked} GPU per run: without GPUs, executor.gpus_per_run=0)"
        raise StudyError(f"sbatch refused the job array; nothing was submitted: {said}")
    job = result.stdout.strip().split(";")[0]
    path = path.rename(folder / f"{job}.sbatch")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        for index, run_ in enumerate(runs):
            attempt = paths.attempt_dir(run_.folder)
            if run_.fresh:
                shutil.rmtree(attempt, ignore_errors=True)
            run.recover(run_.folder)
            attempt.mkdir(parents=True, exist_ok=True)
            log = paths.shown(folder / f"{job}_{index}.out")
            again = run_.fresh or run_.name in forced
            record = Submission(f"{job}_{index}", run_.identity.key, log, now, forced=again)
            run.write_json(attempt / SUBMITTED, asdict(record))
        released = _command("scontrol", "release", job)
        if released is None or released.returncode != 0:
            said = released.stderr.strip() if released is not None else "no scontrol"
            raise StudyError(f"`scontrol release {job}` failed: {said}")
    except BaseException:
        _command("scancel", job)
        for run_ in runs:
            (paths.attempt_dir(run_.folder) / SUBMITTED).unlink(missing_ok=True)
        raise
    return job


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
            yield None, _counts([live.get(job, "ENDING") for job in left])
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
            return live_jobs() or {}
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
