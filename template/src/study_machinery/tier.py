"""One tier of the main result: every variant under conf/variant/ with the tier's seeds
(conf/study.yaml) at the scale of the same name (conf/scale/), in runs/TIER/VARIANT/seed_SEED/.

Only what changed runs. Every run's config is composed first, in this process; a finished
run whose identity (identity.py) still matches is kept as it is, and only runs that are
missing or stale execute. A run killed in flight leaves no metrics.json, so it counts as
missing and is the only one the next `dvc repro` executes.

The `cores` launcher runs them in one worker process per core, each importing the libraries
once (scikit-learn alone takes seconds); `basic` runs them one after another in this process,
which is quicker for runs of milliseconds (starting workers costs seconds).
"""

import concurrent.futures
import copy
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import ablations, identity, paths, run
from .errors import StudyError
from .identity import Identity
from .study import METHOD, Launcher, load_study, variants

# Without a terminal (CI, a SLURM log), a progress line at least this often, in seconds.
LOG_EVERY = 30.0
PROGRESS = "{desc}: {n_fmt}/{total_fmt} runs done, {elapsed} elapsed, about {remaining} left"


@dataclass
class Planned:
    """A run of the tier, its config composed and its identity known."""

    variant: str
    seed: int
    folder: Path
    config: object = field(repr=False)
    resolved: dict = field(repr=False)
    identity: Identity = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.variant} seed {self.seed}"


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def plan(tier: str, runs: Path | None = None, conf_dir: Path = paths.CONF_DIR) -> list[Planned]:
    """Every run of the tier, in study order, its config composed and checked.

    Composing costs about 0.07 s, so it is done once per variant; the seeds then differ in
    `seed` alone, set as the command-line override `seed=S` would set it, last.
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    seeds = load_study(conf_dir).tiers[tier].seeds
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
            for seed in seeds:
                config = copy.deepcopy(base)
                try:
                    config.seed = seed
                except OmegaConfBaseException as error:
                    raise StudyError(
                        f"conf/study.yaml, tier {tier}: seed {seed}: {_first_line(error)}"
                    ) from None
                resolved = OmegaConf.to_container(config, resolve=True, enum_to_str=True)
                planned.append(
                    Planned(
                        variant,
                        seed,
                        paths.run_dir(runs, variant, seed),
                        OmegaConf.to_object(config),
                        resolved,
                        shared.of(resolved),
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
    metrics, record = run.folder / "metrics.json", run.folder / "run.json"
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
    changed = run.identity.changed(recorded["identity"])
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
    """Run folders of variants or seeds the tier no longer has: kept (they cost compute), not used."""
    planned_folders = {run_.folder.resolve() for run_ in planned}
    folders = sorted(runs.rglob("seed_*")) if runs.is_dir() else []
    return [
        folder.relative_to(runs).as_posix()
        for folder in folders
        if folder.is_dir() and folder.resolve() not in planned_folders
    ]


@dataclass
class Outcome:
    name: str
    error: str | None = None
    log: str = ""


def execute(run_: Planned) -> Outcome:
    """Run one planned run in a clean folder, its log in run.log; never raises for a run's error."""
    if run_.folder.exists():
        shutil.rmtree(run_.folder)
    run_.folder.mkdir(parents=True)
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
        return Outcome(run_.name, _first_line(error), paths.shown(log_file))
    finally:
        root.removeHandler(handler)
        handler.close()


def _cores() -> int:
    # The cores this process may use (a SLURM allocation or taskset), not the machine's.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _outcomes(launcher: Launcher, todo: list[Planned]) -> Iterator[Outcome | None]:
    """Each run's outcome as it finishes; None after LOG_EVERY quiet seconds, for the progress."""
    if launcher is Launcher.basic or len(todo) == 1:
        yield from map(execute, todo)
        return
    threads = max(run_.resolved["threads"] for run_ in todo)
    workers = max(1, min(len(todo), _cores() // threads))
    # spawn, not fork: a fresh interpreter per worker, the same on Linux, macOS and Windows.
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
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
