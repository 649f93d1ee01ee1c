"""A variant's search space, conf/search/VARIANT.yaml: each config key searched and its range.

    # conf/search/proposed.yaml
    training.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}   # a float, log-uniform
    model.hidden_units: {choices: [[50], [100], [200]]}              # one of these values
    model.n_neighbors: {low: 1, high: 15, step: 2}                   # an int: low, high whole

A key is written as on the command line (`training.learning_rate`), and a trial sets it as the
override `training.learning_rate=0.0031` would, after the variant's own file: Hydra checks it
against the schema like any other value.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from study_machinery.core import paths
from study_machinery.core.errors import StudyError

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Range:
    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def whole(self) -> bool:
        """Whole numbers: low, high (and step) written as ints."""
        numbers = (self.low, self.high) + ((self.step,) if self.step is not None else ())
        return all(type(value) is int for value in numbers)

    def suggest(self, trial: "optuna.Trial") -> Any:
        if self.choices is not None:
            # Optuna's choices are plain values; a list (a layer's sizes) is one as its JSON text.
            picked = trial.suggest_categorical(self.key, [json.dumps(choice) for choice in self.choices])
            return json.loads(picked)
        assert self.low is not None and self.high is not None
        if self.whole:
            step = int(self.step or 1)
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        """'log-uniform in [0.0001, 0.01]', as the ledger and the README say it."""
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(choice) for choice in self.choices)
        kind = "whole numbers" if self.whole else ("log-uniform" if self.log else "uniform")
        step = f" in steps of {self.step}" if self.step is not None else ""
        return f"{kind} in [{self.low}, {self.high}]{step}"


def read_space(variant: str, conf_dir: Path = paths.CONF_DIR) -> list[Range]:
    """The variant's search space, each range checked; StudyError naming the file and the key."""
    path = paths.space_file(variant, conf_dir)
    shown = paths.shown(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StudyError(f"{shown} cannot be read: {error.strerror}.") from None
    except yaml.YAMLError as error:
        raise StudyError(f"{shown} is not valid YAML: {error}") from None
    if not isinstance(content, dict) or not content:
        raise StudyError(f"{shown}: a search space is `key: range` lines, one per config key searched.")
    return [_range(str(key), spec, shown) for key, spec in content.items()]


RULE = "{low: L, high: H} (with log: true, step: S), or {choices: [A, B, ...]}"


def _range(key: str, spec: Any, shown: str) -> Range:
    where = f"{shown}: {key}"
    if not isinstance(spec, dict) or not spec:
        raise StudyError(f"{where}: a range is {RULE}, not {spec!r}.")
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or len(choices) < 2:
            raise StudyError(f"{where}: choices are a list of two values or more, and nothing else: {RULE}.")
        return Range(key, choices=tuple(choices))
    unknown = set(spec) - {"low", "high", "log", "step"}
    if unknown or not {"low", "high"} <= set(spec):
        raise StudyError(f"{where}: a range is {RULE}, not {spec!r}.")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    numbers = [low, high] + ([step] if step is not None else [])
    if not all(type(value) in (int, float) and math.isfinite(value) for value in numbers):
        raise StudyError(f"{where}: low, high and step are numbers (1.0e-4, not 1e-4 or '0.1'): {spec!r}.")
    if not low < high:
        raise StudyError(f"{where}: low < high, not [{low}, {high}].")
    if type(log) is not bool:
        raise StudyError(f"{where}: log is true or false.")
    if log and (low <= 0 or step is not None):
        raise StudyError(f"{where}: a log range has low > 0 and no step.")
    if step is not None and step <= 0:
        raise StudyError(f"{where}: step > 0, not {step}.")
    return Range(key, low, high, log, step)


def override(key: str, value: Any) -> str:
    """A value as the Hydra override that sets it: `model.hidden_units=[50,50]`, `name='a b'`."""
    return f"{key}={_hydra_value(value)}"


def _hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # round-trips: the run gets the very float the sampler proposed
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{_hydra_value(item)}" for key, item in value.items()) + "}"
    raise StudyError(f"a search space's value {value!r} has no Hydra override form.")
