"""One run on several processes (a config's `distributed.processes` N > 1): PyTorch's launcher
starts them, each is handed the run's overrides and checks that they compose to the very run
planned, and rank 0 records the run as a run of one process records itself.

runs/execution.py calls `launch` instead of the research code when N > 1:

    python -m study_machinery.runs.ranks --standalone --nproc-per-node N --module study_machinery \\
        rank OVERRIDES --folder RUN --attempt ATTEMPT --identity KEY [--tier TIER]

`python -m study_machinery.runs.ranks` is torch.distributed.run, which ends with its parent
(a run killed leaves no process behind); `--standalone` has it pick a free port, so runs on one
machine never collide. Rank 0 performs the run as execution.perform does in one process (its trackers,
epochs.json, run.json, metrics.json, the checkpoint its research code writes); the others run the
research code with an `on_epoch` that does nothing. Each process writes what it ran on into a
scratch folder of the launch (STUDY_RANKS_SCRATCH), which rank 0 waits for and records in
run.json (`distributed`); a process that fails writes its error there, which the launching
process raises.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from study_machinery.core import paths, provenance
from study_machinery.core.environment import run_environment
from study_machinery.core.errors import StudyError, first_line

# How often rank 0 looks for the other processes' facts once its own part is done, in seconds.
POLL_SECONDS = 0.1


class RankFailed(StudyError):
    """A process of a run of several failed: its error, as it said it (its traceback is in run.log)."""


def processes(resolved: dict) -> int:
    """How many processes a run trains on: its config's `distributed.processes`, else 1."""
    distributed = resolved.get("distributed")
    count = distributed.get("processes", 1) if isinstance(distributed, dict) else 1
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise StudyError(f"distributed.processes={count!r}: a run trains on 1 process or more (an int).")
    return count


def inside() -> bool:
    """Whether this process is a rank that `launch` started (so it runs, never launches)."""
    return "STUDY_RANKS_SCRATCH" in os.environ


@dataclass(frozen=True)
class Part:
    """This process's part of a run of several: its rank, their number, their scratch folder."""

    rank: int
    size: int
    scratch: Path
    # Where the launching process ran (provenance.where: its SLURM job, its Ray node), which the
    # processes it started share, although they are neither the job's step nor Ray's task.
    where: dict

    @classmethod
    def here(cls) -> "Part":
        environ = os.environ
        where = json.loads(environ["STUDY_RANKS_WHERE"])
        return cls(
            int(environ["RANK"]), int(environ["WORLD_SIZE"]), Path(environ["STUDY_RANKS_SCRATCH"]), where
        )

    def report(self) -> None:
        """Write what this process ran on (after the research code), and close its process group."""
        torch = sys.modules.get("torch")
        backend = None
        if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
            backend = torch.distributed.get_backend()
            torch.distributed.destroy_process_group()
        facts = {
            "rank": self.rank,
            "host": socket.gethostname(),
            **{key: value for key, value in provenance.accelerator().items() if key in ("device", "gpu")},
            "peak_memory_mb": provenance.peak_memory_mb(),
            "backend": backend,
        }
        _write(self.scratch / f"rank-{self.rank}.json", json.dumps(facts))

    def failed(self, error: BaseException) -> None:
        kind = "FileNotFoundError" if isinstance(error, FileNotFoundError) else type(error).__name__
        _write(
            self.scratch / f"rank-{self.rank}.error", json.dumps({"kind": kind, "error": first_line(error)})
        )

    def gather(self) -> dict:
        """Rank 0, once its own part is done: every process's facts, as run.json records them.

        Waits for the others (they end with it: the last gradients are averaged over all of
        them); a process that failed ends the wait with its error.
        """
        self.report()
        while True:
            failure = _first_failure(self.scratch)
            if failure is not None:
                raise failure
            found = [self.scratch / f"rank-{rank}.json" for rank in range(self.size)]
            if all(path.is_file() for path in found):
                facts = [json.loads(path.read_text(encoding="utf-8")) for path in found]
                break
            time.sleep(POLL_SECONDS)
        backends = {fact.pop("backend") for fact in facts}
        if backends == {None}:
            raise RankFailed(
                f"distributed.processes={self.size}, but the research code joined no process group "
                "(torch.distributed.init_process_group): its processes trained separate models."
            )
        return {"world_size": self.size, "backend": ", ".join(sorted(map(str, backends))), "ranks": facts}


def _write(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)  # whole or absent: rank 0 reads it as soon as it is there


def _first_failure(scratch: Path) -> Exception | None:
    """The error of the process that failed first (the others' follow from losing it)."""
    errors = sorted(scratch.glob("rank-*.error"), key=lambda path: path.stat().st_mtime_ns)
    if not errors:
        return None
    said = json.loads(errors[0].read_text(encoding="utf-8"))
    rank = errors[0].stem.removeprefix("rank-")
    if said["kind"] == "FileNotFoundError":
        return FileNotFoundError(said["error"])
    return RankFailed(f"process {rank} of the run failed: {said['kind']}: {said['error']}")


# How torch.distributed.run reports the process whose end ended the run ("Root Cause").
ROOT_CAUSE = re.compile(
    r"Root Cause.*?rank\s*:\s*(?P<rank>\d+).*?Signal (?P<signal>\d+) \((?P<name>\w+)\) received", re.S
)


def _killed(said: str) -> str | None:
    """Which process a signal ended, as the launcher reported it; None when none was."""
    match = ROOT_CAUSE.search(said)
    if match is None:
        return None
    return (
        f"process {match['rank']} of the run was ended by signal {match['signal']} ({match['name']}), "
        "from outside the run (out of memory, a preemption, a kill); what it saved is kept"
    )


def _failure(scratch: Path, attempt: Path, count: int, code: int) -> Exception:
    """Why the launcher ended with `code`: a process ended by a signal (the OOM killer, a
    preemption), which wrote no error and whose end the others' errors only follow from; else
    the first process's error; else the launcher's last word. Its output stays in the attempt."""
    kept = attempt / paths.LAUNCHER_LOG
    shutil.copyfile(scratch / paths.LAUNCHER_LOG, kept)
    said = kept.read_text(encoding="utf-8", errors="replace")
    killed = _killed(said)
    if killed is not None:
        return RankFailed(f"{killed} (the launcher's output: {paths.shown(kept)})")
    failure = _first_failure(scratch)
    if failure is not None:
        return failure
    lines = [line.strip() for line in said.splitlines() if line.strip("=- ")]
    return RankFailed(
        f"the launcher of its {count} processes ended with exit code {code}"
        + (f": {lines[-1]}" if lines else "")
        + f" (its output: {paths.shown(kept)})"
    )


def launch(
    overrides: list[str], count: int, threads: int, attempt: Path, folder: Path, key: str, tier: str | None
) -> dict:
    """Run the run in `attempt` on `count` processes; its metrics, once rank 0 has recorded it."""
    with tempfile.TemporaryDirectory(prefix="ranks-") as scratch:
        command = [
            sys.executable,
            "-m",
            "study_machinery.runs.ranks",
            "--standalone",
            f"--nproc-per-node={count}",
            "--module",
            "study_machinery",
            "rank",
            *overrides,
            f"--folder={folder}",
            f"--attempt={attempt}",
            f"--identity={key}",
            *([f"--tier={tier}"] if tier is not None else []),
        ]
        environment = {
            **os.environ,
            **run_environment(),
            # Each process's threads (torch.distributed.run would set 1), and where it reports.
            "OMP_NUM_THREADS": str(threads),
            "STUDY_RANKS_SCRATCH": scratch,
            "STUDY_RANKS_WHERE": json.dumps(provenance.where()),
            "STUDY_RANKS_PARENT": str(os.getpid()),
        }
        output = Path(scratch) / paths.LAUNCHER_LOG
        with output.open("w", encoding="utf-8") as out:
            code = subprocess.call(
                command, env=environment, cwd=paths.ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        if code != 0:
            raise _failure(Path(scratch), attempt, count, code)
    (attempt / paths.LAUNCHER_LOG).unlink(missing_ok=True)  # an earlier attempt's, which failed
    return json.loads((attempt / paths.RUN_METRICS).read_text(encoding="utf-8"))


def die_with_parent() -> None:
    """On Linux, end this process when the one that started it ends (SIGKILL included).

    A run killed mid-training then leaves no process behind that would go on writing its
    checkpoint beside the run started again. Elsewhere the processes end when their group does.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    set_parent_death_signal = 1  # PR_SET_PDEATHSIG, linux/prctl.h
    ctypes.CDLL(None, use_errno=True).prctl(set_parent_death_signal, signal.SIGKILL)
    expected = os.environ.get("STUDY_RANKS_PARENT")
    if expected is not None and os.getppid() != int(expected):
        os._exit(1)  # it ended before the signal was asked for


if __name__ == "__main__":
    # The launcher itself: torch.distributed.run, ended with the run that started it.
    die_with_parent()
    os.environ["STUDY_RANKS_PARENT"] = str(os.getpid())  # the processes' parent: this one
    from torch.distributed.run import main

    main(sys.argv[1:])
