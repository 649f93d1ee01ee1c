"""A tier's runs on this machine, one after another in the tier command's own process: for runs
of milliseconds, where starting worker processes (cores.py) would cost more than the runs."""

from collections.abc import Iterator
from dataclasses import dataclass

from study_machinery import executors
from study_machinery.runs.attempt import Outcome, execute
from study_machinery.runs.plan import Planned


@dataclass
class Basic:
    kind: str = "basic"


class Executor(executors.Executor):
    Settings = Basic

    def __init__(self, name: str, settings: Basic) -> None:
        super().__init__(name, settings)
        self.queued: list[Planned] = []

    def submit(self, name: str, runs: list[Planned], forced: frozenset[str]) -> None:
        self.queued = list(runs)

    def outcomes(self, name: str, runs: list[Planned]) -> Iterator[Outcome]:
        while self.queued:
            yield execute(self.queued.pop(0))
