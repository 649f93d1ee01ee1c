"""A tier's recorded result, read from results/<tier>/ and checked to be complete.

The tables, the figure, the README and the checklist all start here, so a
hand-edited or truncated file is caught once, with the file and entry named.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, Metric, StudyConfig, load_study
from study_machinery.results import curves

STATISTICS = ("mean", "std", "se", "ci_low", "ci_high", "n")
DIFFERENCES = ("difference", "ci_low", "ci_high", "p_value", "p_holm", "df", "verdict", "family")
# Each comparison with the method, paired by seed and unpaired.
TESTS = ("paired", "welch")
COMPUTE = ("runs", "cpu_hours", "gpu_hours", "energy_kwh", "co2e_kg")


class ResultsError(StudyError):
    """A recorded result that is missing or incomplete."""


@dataclass(frozen=True)
class Recorded:
    tier: str
    folder: Path
    # variant -> metric -> statistic (see estimates.describe), proposed method first.
    summary: dict[str, dict[str, dict[str, float]]]
    # other variant -> metric -> "paired" or "welch" -> its difference from the method (estimates.py).
    comparisons: dict[str, dict[str, dict[str, dict[str, float | None]]]]
    compute: dict
    # One row per run: variant, seed and every metric.
    runs: list[dict[str, str]]
    # One row per variant, per-epoch score and epoch: the learning curves (curves.py).
    curves: list[dict]
    # conf/study.yaml: the metrics' directions and ranges, the main metric, what the seeds vary.
    study: StudyConfig

    @property
    def metrics(self) -> list[str]:
        """The declared metrics, the main one first."""
        return self.study.ordered_metrics()

    def metric(self, name: str) -> Metric:
        return self.study.metrics[name]

    def secondary(self, name: str) -> bool:
        return name != self.study.main_metric

    @property
    def seeds(self) -> str:
        """How many seeds are behind the variants' means: "5", or "3/5" when they differ."""
        counts = sorted({stats["n"] for variant in self.summary.values() for stats in variant.values()})
        return "/".join(map(str, counts))

    def shown(self, name: str) -> str:
        """A file of this result as a reader would type its path: relative to the study."""
        return paths.shown(self.folder / name)


def load(folder: Path, tier: str | None = None, study: StudyConfig | None = None) -> Recorded:
    """Read results/<tier>/; raise ResultsError naming the file and the entry that is missing."""
    study = study or load_study()
    names = (paths.SUMMARY, paths.COMPARISONS, paths.COMPUTE, paths.RUNS_TABLE, paths.CURVES_TABLE)
    files = {name: folder / name for name in names}
    for path in files.values():
        if not path.is_file():
            raise ResultsError(f"{path} is missing: run `uvx nox -s record` to record the result.")
    summary = _json(files[paths.SUMMARY])
    comparisons = _json(files[paths.COMPARISONS])
    if METHOD not in summary:
        raise ResultsError(f"{files[paths.SUMMARY]} has no entry for the method, {METHOD!r}.")
    metrics = list(summary[METHOD])
    if set(metrics) != set(study.metrics):
        raise ResultsError(
            f"{files[paths.SUMMARY]} holds the metrics {', '.join(metrics)}; conf/study.yaml declares "
            f"{', '.join(study.metrics)}: run `uvx nox -s record` to record the result again."
        )
    _require(files[paths.SUMMARY], summary, list(summary), metrics, STATISTICS)
    others = [variant for variant in summary if variant != METHOD]
    for test in TESTS:
        tested = {
            v: {m: entry.get(test) for m, entry in by_metric.items()} for v, by_metric in comparisons.items()
        }
        _require(files[paths.COMPARISONS], tested, others, metrics, DIFFERENCES)
    compute = _json(files[paths.COMPUTE])
    missing = [key for key in COMPUTE if key not in compute]
    if missing:
        raise ResultsError(f"{files[paths.COMPUTE]} lacks {', '.join(missing)}.")
    with files[paths.RUNS_TABLE].open(newline="") as handle:
        runs = list(csv.DictReader(handle))
    try:
        learning = curves.read_table(files[paths.CURVES_TABLE])
    except (KeyError, TypeError, ValueError) as error:
        raise ResultsError(
            f"{files[paths.CURVES_TABLE]} is not a table of learning curves ({error})."
        ) from None
    return Recorded(tier or folder.name, folder, summary, comparisons, compute, runs, learning, study)


def _json(path: Path) -> dict:
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path} is not valid JSON ({error}).") from None
    if not isinstance(content, dict):
        raise ResultsError(f"{path} should hold a JSON object.")
    return content


def _require(
    path: Path, content: dict, variants: list[str], metrics: list[str], keys: tuple[str, ...]
) -> None:
    for variant in variants:
        for metric in metrics:
            entry = content.get(variant, {}).get(metric)
            if not isinstance(entry, dict):
                raise ResultsError(f"{path}: variant {variant!r} has no metric {metric!r}.")
            missing = [key for key in keys if key not in entry]
            if missing:
                raise ResultsError(
                    f"{path}: {variant!r} {metric!r} lacks {', '.join(missing)} (recorded by an earlier "
                    "release of the template, or edited by hand): run `uvx nox -s record`."
                )
