"""One tier of the main result: every variant under conf/variant/ with the tier's seeds
(conf/study.yaml) at the scale of the same name (conf/scale/), in runs/TIER/VARIANT/seed_SEED/.

Only what changed runs. Every run is planned first, in this process (plan.py); a finished
run whose identity still matches is kept as it is, and only runs that are missing or stale
execute. A run killed in flight leaves no metrics.json, so it counts as missing and is the
only one the next `dvc repro` executes.

The `cores` launcher runs them in one worker process per core, each importing the libraries
once (scikit-learn alone takes seconds); `basic` runs them one after another in this process,
which is quicker for runs of milliseconds (starting workers costs seconds).
"""

import concurrent.futures
import logging
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

from . import paths, provenance, run
from .errors import StudyError, first_line
from .plan import Planned, plan, state, summary
from .study import Launcher, load_study

# Without a terminal (CI, a SLURM log), a progress line at least this often, in seconds.
LOG_EVERY = 30.0
# A run whose config says `device: auto` or `cuda` takes a GPU when there is one (PyTorch studies).
GPU_DEVICES = ("auto", "cuda")
PROGRESS = "{desc}: {n_fmt}/{total_fmt} runs done, {elapsed} elapsed, about {remaining} left"


@dataclass
class Outcome:
    name: str
    error: str | None = None
    log: str = ""


def execute(run_: Planned) -> Outcome:
    """Run one planned run, its log in run.log; never raises for a run's error."""
    run.prepare_folder(run_.folder, run_.identity)
    log_file = run_.folder / "run.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        run.execute(run_.config, run_.resolved, run_.folder, run_.identity)
        return Outcome(run_.name)
    except Exception as error:  # a run's failure is reported by name; the others go on
        logging.getLogger(__name__).error("%s failed:\n%s", run_.name, traceback.format_exc())
        return Outcome(run_.name, first_line(error), paths.shown(log_file))
    finally:
        root.removeHandler(handler)
        handler.close()


def _cores() -> int:
    # The cores this process may use (a SLURM allocation or taskset), not the machine's.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _gpus() -> list[str]:
    """The CUDA GPUs this process may use: those CUDA_VISIBLE_DEVICES lists, else nvidia-smi's."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip()]
    return [str(index) for index in range(len(provenance.gpu_models()))]


def _pin_gpu(queue: "multiprocessing.Queue[str]") -> None:
    """In a new worker, before it imports anything that starts CUDA: see one GPU, its own."""
    os.environ["CUDA_VISIBLE_DEVICES"] = queue.get()


def _outcomes(launcher: Launcher, todo: list[Planned]) -> Iterator[Outcome | None]:
    """Each run's outcome as it finishes; None after LOG_EVERY quiet seconds, for the progress."""
    if launcher is Launcher.basic or len(todo) == 1:
        yield from map(execute, todo)
        return
    threads = max(run_.resolved["threads"] for run_ in todo)
    workers = max(1, min(len(todo), _cores() // threads))
    # spawn, not fork: a fresh interpreter per worker, the same on Linux, macOS and Windows.
    context = multiprocessing.get_context("spawn")
    gpus = _gpus() if any(run_.resolved.get("device") in GPU_DEVICES for run_ in todo) else []
    pinning = {}
    if gpus:
        # One run per GPU: as many workers as GPUs (at most), each seeing only its own.
        workers = min(workers, len(gpus))
        queue = context.Queue()
        for gpu in gpus[:workers]:
            queue.put(gpu)
        pinning = {"initializer": _pin_gpu, "initargs": (queue,)}
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, **pinning)
    try:
        pending = {pool.submit(execute, run_): run_ for run_ in todo}
        while pending:
            finished, _ = concurrent.futures.wait(
                pending, timeout=LOG_EVERY, return_when=concurrent.futures.FIRST_COMPLETED
            )
            if not finished:
                yield None
            for future in finished:
                run_ = pending.pop(future)
                try:
                    yield future.result()
                except concurrent.futures.BrokenExecutor:
                    yield Outcome(run_.name, "its worker process died (out of memory, or killed)")
    finally:
        # Interrupted: the runs not started are dropped, the ones in flight leave no metrics.json.
        pool.shutdown(wait=True, cancel_futures=True)


class Progress:
    """Runs done of total, elapsed and left: a live bar in a terminal, plain lines in a log."""

    def __init__(self, label: str, total: int) -> None:
        from tqdm import tqdm

        self.label, self.total, self.done = label, total, 0
        self.started = self.printed = time.monotonic()
        self.bar = tqdm(total=total, desc=label, unit="run", file=sys.stderr) if sys.stderr.isatty() else None
        self.format = tqdm.format_meter

    def advance(self, by: int = 0) -> None:
        """Count finished runs; in a log, print a line when enough time has passed or all are done."""
        self.done += by
        if self.bar is not None:
            self.bar.update(by)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.printed >= LOG_EVERY or (by and self.done == self.total):
            line = self.format(
                self.done, self.total, now - self.started, prefix=self.label, bar_format=PROGRESS
            )
            print(line, file=sys.stderr, flush=True)
            self.printed = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_tier(tier: str, rerun_all: bool = False) -> None:
    """Bring runs/TIER up to date: execute the runs that are missing or stale, keep the rest."""
    runs = paths.runs_dir(tier)
    planned = plan(tier, runs)
    # Hydra's record of a tier's multirun, from before tiers ran this way (template 0.3 and older).
    (runs / "multirun.yaml").unlink(missing_ok=True)
    states = [("stale", ["--rerun-all"]) if rerun_all else state(run_) for run_ in planned]
    print(summary(tier, states), file=sys.stderr, flush=True)
    todo = [run_ for run_, (status, _) in zip(planned, states, strict=True) if status != "done"]
    if not todo:
        return
    if rerun_all:  # nothing is resumed either
        for run_ in todo:
            shutil.rmtree(run_.folder, ignore_errors=True)
    started = time.perf_counter()
    progress = Progress(f"runs@{tier}", len(todo))
    failed: list[Outcome] = []
    try:
        for outcome in _outcomes(load_study().tiers[tier].launcher, todo):
            progress.advance(0 if outcome is None else 1)
            if outcome is not None and outcome.error is not None:
                failed.append(outcome)
    finally:
        progress.close()
    print(
        f"runs@{tier}: {len(todo) - len(failed)} runs executed in {time.perf_counter() - started:.1f} s, "
        f"{len(planned) - len(todo)} kept",
        file=sys.stderr,
    )
    if failed:
        raise StudyError(
            f"{len(failed)} of {len(todo)} runs of tier {tier} failed; the others are recorded "
            "and will not run again:\n" + _failures(failed)
        )


def _failures(failed: list[Outcome], shown: int = 5) -> str:
    """The failed runs with their error and log, the same error said once (missing data fails them all)."""
    by_error: dict[str, list[Outcome]] = {}
    for outcome in failed:
        by_error.setdefault(outcome.error, []).append(outcome)
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
