"""What a tier has to run: every run's config composed and checked, its identity, its state.

A run of runs/TIER/VARIANT/seed_SEED/ is done when its run.json records the identity it has
now (identity.py) and the metrics.json it wrote; stale when one of them changed (and which);
missing when it never finished. tiers/tier.py executes what is not done.
"""

import contextlib
import copy
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, load_study, variants
from study_machinery.runs import ablations, identity, ranks
from study_machinery.runs.identity import Identity


@dataclass
class Planned:
    """A run of the tier (or of a search's trial), its config composed and its identity known."""

    variant: str
    seed: int
    folder: Path
    config: object = field(repr=False)
    resolved: dict = field(repr=False)
    identity: Identity = field(repr=False)
    # Start in an empty folder even where an interrupted attempt could be resumed (--rerun-all).
    fresh: bool = field(default=False, repr=False)
    # The tier it belongs to, which the trackers group its runs by (None: a search's trial).
    tier: str | None = field(default=None, repr=False)
    # The Hydra overrides that compose its config, as `python -m study_machinery run` takes them.
    overrides: list[str] = field(default_factory=list, repr=False)
    # The search's trial it is a run of, if it is one (search/tune.py).
    trial: int | None = field(default=None, repr=False)

    @property
    def processes(self) -> int:
        """The processes it trains on (its config's distributed.processes; 1 without one)."""
        return ranks.processes(self.resolved)

    @property
    def name(self) -> str:
        """How the output names it, one name per run: "proposed seed 3", "proposed trial 7 seed 3"."""
        trial = f" trial {self.trial}" if self.trial is not None else ""
        return f"{self.variant}{trial} seed {self.seed}"

    def job(self) -> list[str]:
        """The command line that runs it elsewhere (a SLURM job): `python -m study_machinery` + this."""
        tier = [f"--tier={self.tier}"] if self.tier is not None else []
        folder, key = f"--folder={paths.shown(self.folder)}", f"--identity={self.identity.key}"
        return ["job", *self.overrides, folder, key, *tier]


@contextlib.contextmanager
def composing(conf_dir: Path = paths.CONF_DIR) -> Iterator[None]:
    """Hydra ready to compose the study's configs (conf/config.yaml) while it is held."""
    from hydra import initialize_config_dir

    with initialize_config_dir(str(conf_dir), version_base="1.3", job_name="run"):
        yield


def compose(overrides: list[str], what: str) -> Any:
    """conf/config.yaml composed with the overrides, Hydra's own config under `hydra`, inside
    `composing`; a config that does not compose is one StudyError: `what`, then Hydra's words."""
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return hydra_compose("config", overrides, True)
    except (HydraException, OmegaConfBaseException, yaml.YAMLError) as error:
        # Hydra's and YAML's own few lines name the key or the line; their traceback, nothing.
        detail = "\n  ".join(line.strip() for line in str(error).strip().splitlines()[:6])
        raise StudyError(f"{what}:\n  {detail}") from None


def seeded(
    with_hydra: Any,
    variant: str,
    seeds: list[int],
    folder: Callable[[int], Path],
    overrides: list[str],
    tier: str | None = None,
    shared: identity.Shared | None = None,
    trial: int | None = None,
) -> list[Planned]:
    """A composed config's runs, one per seed, each in `folder(seed)`: they differ in `seed` alone,
    set as the command-line override `seed=S` would set it, last."""
    from omegaconf import OmegaConf, open_dict

    shared = shared or identity.shared()
    base = copy.deepcopy(with_hydra)
    with open_dict(base):
        del base["hydra"]
    runs = []
    for seed in seeds:
        config = copy.deepcopy(base)
        config.seed = seed  # an int in range: load_study checked it
        resolved = cast(dict, OmegaConf.to_container(config, resolve=True, enum_to_str=True))
        runs.append(
            Planned(
                variant,
                seed,
                folder(seed),
                OmegaConf.to_object(config),
                resolved,
                shared.of(resolved),
                tier=tier,
                overrides=[*overrides, f"seed={seed}"],
                trial=trial,
            )
        )
    return runs


def plan(tier: str, runs: Path | None = None, conf_dir: Path = paths.CONF_DIR) -> list[Planned]:
    """Every run of the tier, in study order, its config composed and checked.

    Composing costs about 0.07 s, so it is done once per variant, for all its seeds.
    """
    study = load_study(conf_dir)
    folder = runs or paths.runs_dir(tier)
    shared = identity.shared()
    planned, composed = [], {}
    with composing(conf_dir):
        for variant in variants(conf_dir):
            overrides = [f"scale={tier}", f"variant={variant}"]
            with_hydra = compose(overrides, f"conf/variant/{variant}.yaml does not compose at scale {tier}")
            composed[variant] = with_hydra
            # A run left out by a recorded decision (conf/study.yaml's `excluded`) is not run.
            planned += seeded(
                with_hydra,
                variant,
                study.kept(tier, variant),
                functools.partial(paths.run_dir, folder, variant),
                overrides,
                tier,
                shared,
            )
    _check_ablations(composed)
    return planned


def planned_from(overrides: list[str], folder: Path, tier: str | None) -> Planned:
    """The run that `Planned.job` describes, composed again from its overrides (the seed last)."""
    *rest, seed = overrides or [""]
    if not seed.startswith("seed=") or not seed.removeprefix("seed=").isdigit():
        raise StudyError(f"a job's overrides end with seed=SEED, not {seed!r}.")
    with composing():
        with_hydra = compose(rest, f"the run of {paths.shown(folder)} ({' '.join(rest)}) does not compose")
    number = int(seed.removeprefix("seed="))
    return seeded(with_hydra, str(with_hydra.variant), [number], lambda _: folder, rest, tier)[0]


def _check_ablations(composed: dict) -> None:
    """An ablation changes one thing: refused before any run, not found out later by a test."""
    method = composed.get(METHOD)
    for variant, config in composed.items():
        if method is not None and variant.startswith("ablation/"):
            broken = ablations.one_change_rule(variant, ablations.differences(method, config))
            if broken:
                raise StudyError(f"{broken}. Nothing has run.")


def state(run: Planned) -> tuple[str, list[str]]:
    """done, stale (with what changed: config, code, data, environment, metrics) or missing."""
    return folder_state(run.folder, run.identity)


def folder_state(folder: Path, key: Identity) -> tuple[str, list[str]]:
    """The state of what a run folder (or an attempt) holds, for a run of identity `key`."""
    metrics, record = folder / paths.RUN_METRICS, folder / paths.RUN_RECORD
    if not metrics.is_file() or not record.is_file():
        return "missing", []
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "stale", ["run.json unreadable"]
    if "identity" not in recorded:
        return "stale", ["recorded before run identities"]
    if recorded.get("metrics_sha256") != hashlib.sha256(metrics.read_bytes()).hexdigest():
        return "stale", ["metrics.json edited"]
    changed = key.changed(recorded["identity"])
    return ("stale", changed) if changed else ("done", [])


def summary(tier: str, states: list[tuple[str, list[str]]]) -> str:
    """One line: 'runs@small: 7 of 30 runs to execute (5 stale: config; 2 missing)'."""
    stale = [why for status, why in states if status == "stale"]
    missing = sum(status == "missing" for status, _ in states)
    reasons = sorted({reason for why in stale for reason in why})
    parts = [f"{len(stale)} stale: {', '.join(reasons)}"] if stale else []
    parts += [f"{missing} missing"] if missing else []
    todo = len(stale) + missing
    return f"runs@{tier}: {todo} of {len(states)} runs to execute" + (
        f" ({'; '.join(parts)})" if parts else ""
    )


def unused(runs: Path, planned: list[Planned]) -> list[str]:
    """Run folders of variants or seeds the tier no longer has: kept (they cost compute), not used.

    So are their attempts (paths.attempt_dir); a planned run's attempt is the run's own.
    """
    planned_folders = {run_.folder.resolve() for run_ in planned}
    # os.walk, not Path.rglob: a run executing meanwhile (a SLURM job's) renames its attempt into
    # place, and os.walk passes over a folder gone mid-walk where rglob raises.
    found = []
    for parent, names, _ in os.walk(runs):
        found += [Path(parent, name) for name in names if name.startswith("seed_")]
        names[:] = [name for name in names if not name.startswith("seed_")]
    folders = sorted(found)

    def run_folder(folder: Path) -> Path:
        for suffix in (paths.ATTEMPT, paths.REPLACED):
            if folder.name.endswith(suffix):
                return folder.with_name(folder.name.removesuffix(suffix))
        return folder

    return [
        folder.relative_to(runs).as_posix()
        for folder in folders
        if folder.is_dir() and run_folder(folder).resolve() not in planned_folders
    ]
