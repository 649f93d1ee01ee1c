"""The study's own settings, conf/study.yaml: its metrics, tiers, tolerances and compute assumptions.

The schema below is the machinery's: a misspelt key or a value of the wrong type in
conf/study.yaml is refused with the file named, before anything runs.
"""

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.settings import read_settings

# The variant every baseline and ablation is compared with: conf/variant/proposed.yaml.
METHOD = "proposed"


class ToleranceKind(Enum):
    exact = "exact"
    close = "close"
    statistical = "statistical"


@dataclass
class Tolerance:
    # exact: bit-identical. close: math.isclose(recorded, reproduced, rel_tol, abs_tol).
    # statistical: the re-run's mean inside the recorded runs' prediction interval.
    kind: ToleranceKind = ToleranceKind.close
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    confidence: float = 0.95


class Better(Enum):
    higher = "higher"
    lower = "lower"


@dataclass
class Metric:
    # Which way is better: what turns a difference into "better" or "worse" for a reader.
    better: Better = MISSING
    # The values the metric can take, [low, high], null where unbounded: the figures keep their
    # intervals inside it (a 95% interval of an accuracy near 1 would otherwise pass 1).
    # Typed Any: OmegaConf refuses a whole number such as 0 in a list of optional floats; the
    # values are checked by check_metrics.
    range: list[Any] = field(default_factory=lambda: [None, None])

    @property
    def arrow(self) -> str:
        return "↑" if self.better is Better.higher else "↓"

    def verdict(self, low: float | None, high: float | None) -> str:
        """Where the 95% interval of (variant - method) lies, in a reader's words for the variant."""
        if low is None or high is None:
            return "missing"
        if low <= 0 <= high:
            return NO_CLEAR_DIFFERENCE
        return "better" if (low > 0) == (self.better is Better.higher) else "worse"

    def clip(self, value: float) -> float:
        return clip(value, self.range)


NO_CLEAR_DIFFERENCE = "no clear difference"


def clip(value: float, bounds: list[float | None]) -> float:
    """The value moved inside [low, high]; a bound of None is no bound."""
    low, high = bounds
    value = value if low is None else max(low, value)
    return value if high is None else min(high, value)


@dataclass
class CurvesConfig:
    # What the research code counts when it calls on_epoch: the learning curves' x-axis.
    x: str = "epoch"
    # The values a per-epoch quantity (the part after SPLIT_) can take, [low, high], null for no
    # bound, beyond the metrics' own ranges: the bands stay inside them.
    ranges: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Exclusion:
    """A run left out of a tier's result by a recorded decision (a seed whose split breaks a model)."""

    tier: str = MISSING
    variant: str = MISSING
    seed: int = MISSING
    # Why, in words a reader can check: every table caption, the README and the checklist show it.
    why: str = MISSING

    def __str__(self) -> str:
        return f"{self.variant} seed {self.seed} ({self.why.strip().rstrip('.')})"


@dataclass
class TierConfig:
    seeds: list[int] = MISSING
    # Where its runs execute: a file under conf/executor/ (executors/).
    executor: str = "cores"


@dataclass
class ComputeAssumptions:
    # Stated, not measured: the energy and carbon estimates follow from them.
    watts_per_cpu_core: float = MISSING
    watts_per_gpu: float = MISSING
    grams_co2e_per_kwh: float = MISSING


@dataclass
class StudyConfig:
    # The metric the study's claims are about; the others are secondary (results.md says why).
    main_metric: str = MISSING
    # Every metric a run reports, declared once; a run reporting another one is refused.
    metrics: dict[str, Metric] = MISSING
    main_tier: str = MISSING
    # What changes from one seed to the next: the variation the error bars measure.
    seeds_vary: str = MISSING
    tiers: dict[str, TierConfig] = MISSING
    tolerance: dict[str, Tolerance] = field(default_factory=dict)
    compute: ComputeAssumptions = MISSING
    # Mandatory, like every key above that dvc.yaml's stages read: DVC finds a key missing from
    # the file, not in this schema. Their values are in conf/study.yaml, not here.
    curves: CurvesConfig = MISSING
    # Runs left out of the result, each by a decision recorded here (`[]`: none).
    excluded: list[Exclusion] = MISSING
    # The module of the research package that puts data/raw in place where the DVC remote cannot
    # be reached (CI): `python -m study_machinery fetch` runs it; None: `dvc pull` (storage/fetch.py).
    fetch_raw_data: str | None = None
    # The hyperparameter search: budgets, sampler seed, declared unequal budgets, checked by
    # search/settings.py (`{}`: none). Mandatory, as the report stage reads it.
    search: Any = MISSING

    def left_out(self, tier: str) -> list[Exclusion]:
        return [exclusion for exclusion in self.excluded if exclusion.tier == tier]

    def kept(self, tier: str, variant: str) -> list[int]:
        """The tier's seeds that count for a variant: all but those left out."""
        out = {exclusion.seed for exclusion in self.left_out(tier) if exclusion.variant == variant}
        return [seed for seed in self.tiers[tier].seeds if seed not in out]

    def ordered_metrics(self) -> list[str]:
        """The declared metrics, the main one first: the order of every table and figure."""
        return [self.main_metric, *(name for name in self.metrics if name != self.main_metric)]

    def bounds(self, quantity: str) -> list[float | None]:
        """The values a per-epoch quantity can take: a metric's range, or one of curves.ranges."""
        if quantity in self.metrics:
            return self.metrics[quantity].range
        return self.curves.ranges.get(quantity, [None, None])


def load_study(conf_dir: Path = paths.CONF_DIR) -> StudyConfig:
    """Read conf/study.yaml, checked against its schema and for seeds enough to measure a spread."""
    path = conf_dir / paths.STUDY_FILE.name
    study = read_settings(path, StudyConfig)
    check_metrics(study, paths.shown(path))
    if study.main_tier not in study.tiers:
        raise StudyError(f"{path}: main_tier {study.main_tier!r} is not one of its tiers.")
    for name, tier in study.tiers.items():
        if len(set(tier.seeds)) < 2:
            raise StudyError(f"{path}: tier {name!r} needs two seeds or more for a spread.")
        if not all(map(valid_seed, tier.seeds)):
            raise StudyError(f"{path}: tier {name!r}: {SEED_RULE}, not {tier.seeds}.")
        if len(set(tier.seeds)) != len(tier.seeds):
            raise StudyError(f"{path}: tier {name!r} lists a seed twice: {tier.seeds}.")
    check_exclusions(study, paths.shown(path), variants(conf_dir))
    return study


def check_metrics(study: StudyConfig, shown: str) -> None:
    """The main metric and every tolerance name a declared metric; each range is [low, high]."""
    declared = ", ".join(study.metrics) or "none"
    if not study.metrics:
        raise StudyError(f"{shown}: `metrics` declares no metric; declare each metric the runs report.")
    if study.main_metric not in study.metrics:
        raise StudyError(
            f"{shown}: main_metric {study.main_metric!r} is not declared under `metrics` ({declared})."
        )
    unknown = [name for name in study.tolerance if name not in study.metrics]
    if unknown:
        raise StudyError(
            f"{shown}: a tolerance for {', '.join(map(repr, unknown))}, which is not declared under "
            f"`metrics` ({declared}): a misspelt name would leave the real metric compared exactly."
        )
    ranges = {f"metric {name!r}": metric.range for name, metric in study.metrics.items()}
    ranges |= {f"curves: quantity {name!r}": bounds for name, bounds in study.curves.ranges.items()}
    for name, bounds in ranges.items():
        numbers = all(bound is None or type(bound) in (int, float) for bound in bounds)
        low, high = bounds if len(bounds) == 2 and numbers else (1, 0)  # (1, 0): refused below
        if low is not None and high is not None and low >= high:
            raise StudyError(
                f"{shown}: {name}: a range is [low, high] with low < high (null for no bound), not {bounds}."
            )


def check_exclusions(study: StudyConfig, shown: str, names: list[str]) -> None:
    """Each run left out is one the study has, said once, with a reason; every variant keeps a
    spread, and seeds enough in common with the method to pair them."""
    seen = set()
    for exclusion in study.excluded:
        where = f"{shown}: excluded {exclusion.variant} seed {exclusion.seed} of tier {exclusion.tier!r}"
        if exclusion.tier not in study.tiers or exclusion.seed not in study.tiers[exclusion.tier].seeds:
            raise StudyError(f"{where}: the tier has no such seed.")
        if exclusion.variant not in names:
            raise StudyError(f"{where}: there is no conf/variant/{exclusion.variant}.yaml.")
        if not exclusion.why.strip():
            raise StudyError(f"{where}: say why (`why:`); every table caption shows it.")
        if (key := (exclusion.tier, exclusion.variant, exclusion.seed)) in seen:
            raise StudyError(f"{where}: listed twice.")
        seen.add(key)
    for tier in {exclusion.tier for exclusion in study.excluded}:
        method = set(study.kept(tier, METHOD))
        for variant in names:
            if len(method & set(study.kept(tier, variant))) < 2:
                raise StudyError(
                    f"{shown}: with the runs excluded, {variant} keeps fewer than two seeds in common "
                    f"with {METHOD} in tier {tier!r}: no spread, and nothing to pair."
                )


def check_reported(study: StudyConfig, reported: list[str], where: str) -> None:
    """A run's metrics are exactly the declared ones: StudyError naming both sides otherwise."""
    undeclared = [name for name in reported if name not in study.metrics]
    missing = [name for name in study.metrics if name not in reported]
    if undeclared or missing:
        parts = []
        if undeclared:
            parts.append(f"reports {', '.join(undeclared)}, not declared")
        if missing:
            parts.append(f"does not report {', '.join(missing)}, declared")
        raise StudyError(
            f"{where} {' and '.join(parts)} under `metrics` in {paths.shown(paths.STUDY_FILE)}: "
            "declare every metric the runs report (which way is better), and only those."
        )


# NumPy's and scikit-learn's seeds are unsigned 32-bit integers.
SEED_RULE = "a seed is a whole number from 0 to 2**32 - 1"


def valid_seed(seed: int) -> bool:
    return 0 <= seed < 2**32


def check_config_files(conf_dir: Path = paths.CONF_DIR) -> None:
    """Every YAML file under conf/ parses: a syntax error is named with its line, before Hydra's traceback."""
    for path in sorted(conf_dir.rglob("*.yaml")):
        try:
            with path.open(encoding="utf-8") as file:
                yaml.safe_load(file)
        except yaml.YAMLError as error:
            detail = "\n  ".join(line.strip() for line in str(error).strip().splitlines())
            raise StudyError(f"{paths.shown(path)} is not valid YAML:\n  {detail}") from None


def variants(conf_dir: Path = paths.CONF_DIR) -> list[str]:
    """Names of the variants, the proposed method first: proposed, ablation/..., baseline/..."""
    variant_dir = conf_dir / "variant"
    names = sorted(
        path.relative_to(variant_dir).with_suffix("").as_posix() for path in variant_dir.rglob("*.yaml")
    )
    return sorted(names, key=lambda name: name != METHOD)
