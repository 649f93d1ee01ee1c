"""A tier's runs on this machine's cores: one worker process per run's cores (its `threads` in
each of its processes), and on GPUs one GPU per process of a run, each worker seeing only its own.

Workers are started with spawn, not fork (a fresh interpreter each, the same on Linux, macOS
and Windows), and each imports the libraries once (scikit-learn alone takes seconds): for runs
of milliseconds `basic` (basic.py) is quicker, since starting workers costs seconds.
"""

import concurrent.futures
import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from study_machinery import executors
from study_machinery.core import provenance
from study_machinery.runs.attempt import LOG_EVERY, Outcome, execute
from study_machinery.runs.plan import Planned


@dataclass
class Cores:
    kind: str = "cores"
    # Worker processes; null: as many as the cores allow (cores // a run's cores), one per GPU at
    # most (per GPU of each of a run's processes).
    workers: int | None = None


# A run whose config says `device: auto` or `cuda` takes a GPU when there is one (PyTorch studies).
GPU_DEVICES = ("auto", "cuda")


def cores() -> int:
    # The cores this process may use (a SLURM allocation or taskset), not the machine's.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _gpus() -> list[str]:
    """The CUDA GPUs this process may use: those CUDA_VISIBLE_DEVICES lists, else nvidia-smi's."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip()]
    return [str(index) for index in range(len(provenance.gpu_models()))]


def _pin_gpu(queue: "multiprocessing.Queue[str]") -> None:
    """In a new worker, before it imports anything that starts CUDA: see its own GPUs only."""
    os.environ["CUDA_VISIBLE_DEVICES"] = queue.get()


class Executor(executors.Executor):
    Settings = Cores
    settings: Cores

    def __init__(self, name: str, settings: Cores) -> None:
        super().__init__(name, settings)
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.pending: dict[concurrent.futures.Future, Planned] = {}
        self.here: list[Planned] = []

    @contextlib.contextmanager
    def session(self, name: str) -> Iterator[None]:
        try:
            yield
        finally:
            if self.pool is not None:
                # Interrupted: the runs not started are dropped, the ones in flight leave no metrics.json.
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None

    def submit(self, name: str, runs: list[Planned], forced: frozenset[str]) -> None:
        if self.pool is not None:
            # A later batch of the same session (a search's next trials): the workers started
            # for the first one, their libraries imported already.
            self.pending |= {self.pool.submit(execute, run_): run_ for run_ in runs}
            return
        if len(runs) == 1:
            self.here = list(runs)  # one run: in this process, sparing a worker's start
            return
        # A run's cores: its threads in each of its processes (distributed.processes).
        needs, _ = executors.per_run(runs, None, 0)
        workers = max(1, min(len(runs), self.settings.workers or cores() // needs))
        # spawn, not fork: a fresh interpreter per worker, the same on Linux, macOS and Windows.
        context = multiprocessing.get_context("spawn")
        gpus = _gpus() if any(run_.resolved.get("device") in GPU_DEVICES for run_ in runs) else []
        pinning: dict[str, Any] = {}
        if gpus:
            # One GPU per process of a run: as many workers as the GPUs allow (at least one,
            # whose runs share them), each seeing only its own.
            each = min(max(run_.processes for run_ in runs), len(gpus))
            workers = max(1, min(workers, len(gpus) // each))
            queue = context.Queue()
            for worker in range(workers):
                queue.put(",".join(gpus[worker * each : (worker + 1) * each]))
            pinning = {"initializer": _pin_gpu, "initargs": (queue,)}
        self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, **pinning)
        self.pending = {self.pool.submit(execute, run_): run_ for run_ in runs}

    def outcomes(self, name: str, runs: list[Planned]) -> Iterator[Outcome | None]:
        while self.here:
            yield execute(self.here.pop())
        while self.pending:
            finished, _ = concurrent.futures.wait(
                self.pending, timeout=LOG_EVERY, return_when=concurrent.futures.FIRST_COMPLETED
            )
            if not finished:
                yield None
            for future in finished:
                run_ = self.pending.pop(future)
                try:
                    yield future.result()
                except concurrent.futures.BrokenExecutor:
                    yield Outcome(run_.name, "its worker process died (out of memory, or killed)")
