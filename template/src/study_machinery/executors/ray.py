"""A tier's runs on a Ray cluster: one Ray task per run, through Ray's own API.

The tier command plans the runs (configs composed, identities known) and hands each planned
run to a Ray task, which executes it as a local worker would (runs/attempt.py's `execute`): the results are
the run folders, so every node must see the study's folder at the same path and run the
study's environment. Ray's workers live on between tasks, so each imports the libraries once.
"""

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study_machinery import executors
from study_machinery.core import paths
from study_machinery.core.environment import run_environment
from study_machinery.core.errors import StudyError
from study_machinery.executors.cores import cores
from study_machinery.runs.attempt import LOG_EVERY, Outcome
from study_machinery.runs.plan import Planned


@dataclass
class Ray:
    kind: str = "ray"
    # local: a Ray cluster of this machine, started for the tier and stopped after it; auto: the
    # cluster `ray start` started here (or RAY_ADDRESS names); or a head's HOST:PORT.
    address: str = "local"
    # CPU cores per run; null: the run's own `threads`. This and gpus_per_run are per
    # process: a run of distributed.processes N gets N times them.
    cpus_per_run: int | None = None
    gpus_per_run: float = 0.0
    # Memory per run in GiB, which Ray reserves for it; null: none reserved.
    memory_per_run_gb: float | None = None


# Where Ray keeps the token of a cluster with token authentication (`ray get-auth-token`).
TOKEN = Path.home() / ".ray" / "auth_token"


def _execute(root: str, run_: Planned):
    from study_machinery.runs.attempt import execute

    os.chdir(root)  # a relative path in a config starts at the study's root, as everywhere
    return execute(run_)


def _check_reachable(address: str) -> None:
    """A head that does not answer fails in seconds (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # `auto`, or an address Ray reads some other way
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise StudyError(
            f"Ray cluster {address!r}: nothing answers there ({error.strerror or error}). Start it with "
            "`uv run --group ray ray start --head`, or set executor.address. Nothing was started."
        ) from None


class Executor(executors.Executor):
    label = "Ray"
    Settings = Ray
    settings: Ray

    def __init__(self, name: str, settings: Ray) -> None:
        super().__init__(name, settings)
        self.ray: Any = None  # the ray module, once a cluster is joined
        self.pending: dict[Any, Planned] = {}

    @contextlib.contextmanager
    def session(self, name: str) -> Iterator[None]:
        try:
            yield
        finally:
            if self.ray is not None:
                self.ray.shutdown()
                self.ray = None

    def submit(self, name: str, runs: list[Planned], forced: frozenset[str]) -> None:
        ray = self._join()
        cpus, gpus = executors.per_run(runs, self.settings.cpus_per_run, self.settings.gpus_per_run)
        resources = {"CPU": cpus, "GPU": gpus}
        if self.settings.memory_per_run_gb:
            resources["memory"] = self.settings.memory_per_run_gb * 2**30
        # A run fits on one node or waits for ever: compare with the largest node, not the sum.
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        if not any(all(need <= node.get(name, 0) for name, need in resources.items()) for node in nodes):
            biggest: dict = max(nodes, key=lambda node: node.get("CPU", 0), default={})
            raise StudyError(
                f"each run asks for {resources['CPU']:g} CPU and {resources['GPU']:g} GPU, and no "
                f"node of the Ray cluster has that (the largest: {biggest.get('CPU', 0):g} CPU, "
                f"{biggest.get('GPU', 0):g} GPU): set executor.cpus_per_run or executor.gpus_per_run. "
                "Nothing was started."
            )
        task = ray.remote(_execute).options(
            num_cpus=resources["CPU"],
            num_gpus=resources["GPU"],
            memory=int(resources["memory"]) if "memory" in resources else None,
            max_retries=0,
        )
        self.pending = {task.remote(str(paths.ROOT), run_): run_ for run_ in runs}

    def outcomes(self, name: str, runs: list[Planned]) -> Iterator[Outcome | None]:
        ray = self.ray
        while self.pending:
            finished, _ = ray.wait(list(self.pending), num_returns=1, timeout=LOG_EVERY)
            if not finished:
                yield None
            for ref in finished:
                run_ = self.pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as error:  # the worker died: out of memory, a lost node
                    yield Outcome(run_.name, f"its Ray task failed: {str(error).splitlines()[0]}")

    def _join(self) -> Any:
        """The Ray cluster the settings name, joined (or, for `local`, started); the ray module.
        Joined once per session: a search submits a batch at a time."""
        if self.ray is not None:
            return self.ray
        settings = self.settings
        started_here = settings.address == "local"
        if not started_here:
            _check_reachable(settings.address)
            if "RAY_AUTH_MODE" not in os.environ and (TOKEN.is_file() or "RAY_AUTH_TOKEN" in os.environ):
                # `ray start` turns token authentication on when it finds a token here, but a driver
                # that connects does not look for one unless told to before Ray loads (Ray 2.60).
                os.environ["RAY_AUTH_MODE"] = "token"
        # Under `uv run`, Ray would upload a copy of the study for its workers to build their own
        # environment from; they run the study's folder and environment where they are instead.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
        except ImportError:
            raise StudyError(
                "the ray executor needs Ray in the study's environment: `uv sync --group ray`, then "
                "`uv run --group ray python -m study_machinery tier ...`."
            ) from None
        try:
            ray.init(
                # "local": a new cluster of this machine, even where `ray start` runs one.
                address=settings.address,
                num_cpus=cores() if started_here else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                runtime_env={"env_vars": run_environment()},
            )
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise StudyError(
                f"Ray cluster {settings.address!r}: {str(error).splitlines()[0]}. Is it up (`ray status`)? A "
                f"cluster with token authentication needs its token in {TOKEN} (or RAY_AUTH_TOKEN)."
            ) from None
        self.ray = ray
        return ray
