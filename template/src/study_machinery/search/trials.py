"""A search's trials as the machinery holds them: each trial's values, runs and scores."""

import statistics
from dataclasses import dataclass, field
from typing import Any

from study_machinery.core.study import Better
from study_machinery.runs.plan import Planned
from study_machinery.search.space import Range


@dataclass
class Trial:
    number: int
    values: dict[str, Any]
    runs: list[Planned] = field(repr=False)
    # Per seed, the main metric on the validation split; None for a run that did not finish.
    scores: dict[int, float | None] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    # Stopped by the pruner after some of its seeds (search.pruning): never chosen.
    pruned: bool = False

    @property
    def score(self) -> float | None:
        """The mean over the seeds; None unless every seed finished (a trial is all its seeds)."""
        if self.pruned or len(self.scores) < len(self.runs) or None in self.scores.values():
            return None
        return statistics.fmean(score for score in self.scores.values() if score is not None)

    @property
    def state(self) -> str:
        return "pruned" if self.pruned else ("complete" if self.score is not None else "failed")


@dataclass
class Searched:
    variant: str
    space: list[Range]
    trials: list[Trial]
    storage: Any = field(repr=False)

    def best(self, better: Better) -> Trial | None:
        scored = [trial for trial in self.trials if trial.score is not None]
        if not scored:
            return None
        pick = max if better is Better.higher else min
        # Ties go to the earliest trial: the same ledger always gives the same choice.
        return pick(scored, key=lambda trial: (trial.score, -trial.number if pick is max else trial.number))
