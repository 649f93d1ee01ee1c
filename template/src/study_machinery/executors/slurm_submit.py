"""Submitting a tier's runs to SLURM: the job array's script, written to jobs/TIER/, and sbatch.

The compute nodes must see the study, its environment and its data at the same paths; the
submission checks what it can from here, and each job checks again on its node.
"""

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.environment import dependency_groups, run_environment
from study_machinery.core.errors import StudyError
from study_machinery.executors import Submission, per_run, slurm_jobs
from study_machinery.executors.slurm_settings import Slurm
from study_machinery.runs.folder import recover, write_json
from study_machinery.runs.plan import Planned

JOBS_DIR = paths.ROOT / "jobs"


# Filesystems that only the machine that mounts them can see.
LOCAL_ONLY = {"tmpfs", "ramfs", "devtmpfs"}


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
    listed = slurm_jobs.command(*args)
    if listed is None or listed.returncode != 0 or not listed.stdout.strip():
        return set()
    names = slurm_jobs.command("scontrol", "show", "hostnames", ",".join(listed.stdout.split()))
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
    chosen = [f"--group={group}" for group in dependency_groups(paths.ROOT)]
    result = subprocess.run(
        [uv, "sync", "--frozen", "--inexact", *chosen, "--quiet"],
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
    """The job array's sbatch script for the batch `tier` (a tier, or a search's): task i runs runs[i]."""
    # One task per run, which starts the run's processes (distributed.processes) inside it.
    cpus, gpus = per_run(runs, settings.cpus_per_run, settings.gpus_per_run)
    array = f"0-{len(runs) - 1}" + (f"%{settings.max_parallel}" if settings.max_parallel else "")
    name = re.sub(r"[^\w.-]", "_", f"{paths.ROOT.name}-{tier}")
    options = [
        f"--job-name={name}",
        f"--array={array}",
        "--ntasks=1",
        f"--cpus-per-task={cpus}",
        f"--mem={settings.memory_per_run}",
        f"--time={settings.time_limit}",
        # Relative to the folder sbatch is run from, the study's root: no path with spaces here.
        f"--output={log_folder(tier).relative_to(paths.ROOT).as_posix()}/%A_%a.out",
    ]
    options += [f"--partition={settings.partition}"] if settings.partition else []
    options += [f"--account={settings.account}"] if settings.account else []
    options += [f"--gres=gpu:{gpus}"] if gpus else []
    options += settings.sbatch_options
    root, py = shlex.quote(str(paths.ROOT)), shlex.quote(str(python))
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in run_environment().items())
    # Each task's command line, as Planned.job writes it: its config's overrides, its folder and
    # identity; the job re-composes the run and runs it only if its identity is still that one.
    tasks = [
        f"  {index}) exec {py} -m study_machinery {shlex.join(run_.job())} ;;"
        for index, run_ in enumerate(runs)
    ]
    lines = [
        "#!/bin/bash",
        f"# {tier} of the study at {paths.ROOT}: {len(runs)} runs, one per array task.",
        "# Written and submitted by the machinery (src/study_machinery/executors/slurm_submit.py).",
        *(f"#SBATCH {option}" for option in options),
        "",
        "# The study, its environment and its data must be visible here, at the same paths.",
        f'if ! cd {root}; then echo "error: $(hostname) cannot see the study at {root}"; exit 3; fi',
        f'if [ ! -x {py} ]; then echo "error: $(hostname) cannot see the environment {py}"; exit 3; fi',
        *settings.setup,
        f"export {exports}",
        'case "$SLURM_ARRAY_TASK_ID" in',
        *tasks,
        "esac",
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
    result = slurm_jobs.command("sbatch", "--parsable", "--hold", str(path), cwd=paths.ROOT)
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
            recover(run_.folder)
            attempt.mkdir(parents=True, exist_ok=True)
            log = paths.shown(folder / f"{job}_{index}.out")
            again = run_.fresh or run_.name in forced
            record = Submission("slurm", f"{job}_{index}", run_.identity.key, log, now, forced=again)
            write_json(attempt / paths.SUBMITTED, asdict(record))
        released = slurm_jobs.command("scontrol", "release", job)
        if released is None or released.returncode != 0:
            said = released.stderr.strip() if released is not None else "no scontrol"
            raise StudyError(f"`scontrol release {job}` failed: {said}")
    except BaseException:
        slurm_jobs.command("scancel", job)
        for run_ in runs:
            (paths.attempt_dir(run_.folder) / paths.SUBMITTED).unlink(missing_ok=True)
        raise
    return job
