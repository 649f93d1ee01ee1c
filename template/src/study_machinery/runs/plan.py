"""What a tier has to run: every run's config composed and checked, its identity, its state.

A run of runs/TIER/VARIANT/seed_SEED/ is done when its run.json records the identity it has
now (identity.py) and the metrics.json it wrote; stale when one of them changed (and which);
missing when it never finished. tiers/tier.py executes what is not done.
"""

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import yaml

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import METHOD, load_study, variants
from study_machinery.runs import ablations, identity
from study_machinery.runs.identity import Identity


@dataclass
class Planned:
    """A run of the tier, its config composed and its identity known."""

    variant: str
    seed: int
    folder: Path
    config: object = field(repr=False)
    resolved: dict = field(repr=False)
    identity: Identity = field(repr=False)
    # Start in an empty folder even where an interrupted attempt could be resumed (--rerun-all).
    fresh: bool = field(default=False, repr=False)
    # The tier it belongs to, which the trackers group its runs by.
    tier: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.variant} seed {self.seed}"


def plan(tier: str, runs: Path | None = None, conf_dir: Path = paths.CONF_DIR) -> list[Planned]:
    """Every run of the tier, in study order, its config composed and checked.

    Composing costs about 0.07 s, so it is done once per variant; the seeds then differ in
    `seed` alone, set as the command-line override `seed=S` would set it, last.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    study = load_study(conf_dir)
    runs = runs or paths.runs_dir(tier)
    shared = identity.shared()
    planned, composed = [], {}
    with initialize_config_dir(str(conf_dir), version_base="1.3", job_name="run"):
        for variant in variants(conf_dir):
            try:
                with_hydra = compose("config", [f"scale={tier}", f"variant={variant}"], True)
            except (HydraException, OmegaConfBaseException, yaml.YAMLError) as error:
                # Hydra's and YAML's own few lines name the key or the line; their traceback, nothing.
                detail = "\n  ".join(line.strip() for line in str(error).strip().splitlines()[:6])
                raise StudyError(
                    f"conf/variant/{variant}.yaml does not compose at scale {tier}:\n  {detail}"
                ) from None
            composed[variant] = with_hydra
            base = copy.deepcopy(with_hydra)
            with open_dict(base):
                del base["hydra"]
            # A run left out by a recorded decision (conf/study.yaml's `excluded`) is not run.
            for seed in study.kept(tier, variant):
                config = copy.deepcopy(base)
                config.seed = seed  # an int in range: load_study checked it
                resolved = cast(dict, OmegaConf.to_container(config, resolve=True, enum_to_str=True))
                planned.append(
                    Planned(
                        variant,
                        seed,
                        paths.run_dir(runs, variant, seed),
                        OmegaConf.to_object(config),
                        resolved,
                        shared.of(resolved),
                        tier=tier,
                    )
                )
    _check_ablations(composed)
    return planned


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
    folders = sorted(runs.rglob("seed_*")) if runs.is_dir() else []

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
