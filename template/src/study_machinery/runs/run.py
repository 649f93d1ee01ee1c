"""One run: Hydra composes and checks its config, the research code runs it, and this module
writes what it produced into the run's folder.

`python -m study_machinery run [OVERRIDES]` starts one run (into outputs/); a tier's runs
(tiers/tier.py) go through `execute` too, with configs composed once for the whole tier.
"""

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import cast

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from study_machinery import contract, tracking
from study_machinery.core import epochs, paths, provenance
from study_machinery.runs import identity
from study_machinery.runs.plan import folder_state
from study_machinery.core.study import SEED_RULE, valid_seed

log = logging.getLogger(__name__)


def json_text(content: dict) -> str:
    """How run.json and metrics.json are written (and metrics.json hashed)."""
    return json.dumps(content, indent=2) + "\n"


def write_json(path: Path, content: dict) -> None:
    """Write whole or not at all, even through a power loss.

    A run killed mid-write leaves a .partial file, never half a result under the real name.
    """
    text = json_text(content)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        folder = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


# The identity of the run a folder's latest attempt started: a rerun with the same one resumes.
STARTED = "started.json"


def prepare_folder(
    folder: Path, key: identity.Identity, keep: frozenset[str] = frozenset(), fresh: bool = False
) -> None:
    """An empty folder for a run (but for the entries named in `keep`); or, for a run that was
    interrupted with the same identity, the folder as it left it: its checkpoints, and its log,
    which the new attempt goes on. A finished run, one of another identity, or any run when
    `fresh` (`--rerun-all`), starts afresh."""
    started = folder / STARTED
    expected = json_text(key.record())
    interrupted = folder.is_dir() and not (folder / paths.RUN_METRICS).exists()
    if not fresh and interrupted and started.is_file() and started.read_text(encoding="utf-8") == expected:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    write_json(started, key.record())


def prepare_attempt(
    folder: Path, key: identity.Identity, keep: frozenset[str] = frozenset(), fresh: bool = False
) -> Path | None:
    """The folder a tier's run executes in, beside its own (paths.attempt_dir), prepared as
    prepare_folder prepares one: an interrupted attempt with this identity is resumed. The run's
    own folder, and whatever result it holds, stays as it is until `swap_in`.

    None when nothing is left to run: an attempt of this identity that finished but was stopped
    before it replaced the run's folder takes its place now (unless `fresh`: --rerun-all asks
    for runs made by this command).
    """
    completed = recover(folder)
    attempt = paths.attempt_dir(folder)
    if not fresh and (completed or folder_state(attempt, key)[0] == "done"):
        if not completed:
            swap_in(attempt, folder)
        return None
    prepare_folder(attempt, key, keep, fresh)
    return attempt


def swap_in(attempt: Path, folder: Path) -> None:
    """A finished attempt becomes the run's folder; the folder it replaces is deleted after."""
    replaced = paths.replaced_dir(folder)
    if replaced.exists():
        _discard(replaced)  # what a swap interrupted after its two renames left
    if folder.exists():
        folder.rename(replaced)
    attempt.rename(folder)
    _discard(replaced)


def _discard(folder: Path) -> None:
    """Delete a replaced folder; one that will not go (NFS's .nfs files) is renamed out of the way."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        folder.rename(folder.with_name(f"{folder.name}-{time.time_ns()}"))


def recover(folder: Path) -> bool:
    """Finish a swap that was interrupted between its renames: no result is lost either way.

    True when it put a finished attempt in the run's folder.
    """
    replaced, attempt = paths.replaced_dir(folder), paths.attempt_dir(folder)
    if folder.exists() or not replaced.exists():
        return False
    if (attempt / paths.RUN_METRICS).is_file():
        attempt.rename(folder)
        _discard(replaced)
        return True
    replaced.rename(folder)
    return False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def execute(
    config: object,
    resolved: dict,
    folder: Path,
    key: identity.Identity,
    tier: str | None = None,
    recorded_as: Path | None = None,
) -> dict[str, float]:
    """One run of the research code, recorded in `folder`: run.json, then metrics.json.

    metrics.json comes last: its presence is what marks a run as finished. run.json holds the
    run's identity and the hash of its metrics.json, so that an edited result reads as stale.
    A run of a tier is also logged to the study's trackers (tracking/), after its records;
    they name it by `recorded_as`, the folder its attempt's `folder` becomes once finished.
    """
    contract.load()
    provenance.watch_accelerator()
    with tracking.tracked(tier, resolved, key.key, folder, recorded_as or folder) as trackers:
        metrics = _timed(config, resolved, folder, key, trackers)
        trackers.finish(metrics)
    return metrics


def _timed(
    config: object, resolved: dict, folder: Path, key: identity.Identity, trackers: tracking.Run
) -> dict[str, float]:
    started, clock = _now(), time.perf_counter()
    recorder = epochs.Recorder(folder, forward=trackers.epoch)
    metrics = contract.run(config, folder, recorder)
    recorder.close()
    seconds = time.perf_counter() - clock
    accelerator = provenance.accelerator()
    gpus = 1 if accelerator["device"] in ("cuda", "mps") else 0
    record = {
        "variant": resolved["variant"],
        "scale": resolved["scale"],
        "seed": resolved["seed"],
        "identity": key.record(),
        "config_sha256": key.config,
        "metrics_sha256": hashlib.sha256(json_text(metrics).encode()).hexdigest(),
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "peak_memory_mb": provenance.peak_memory_mb(),
        "cpu_cores_used": resolved["threads"],
        # A run uses one GPU at most (executors/local.py gives each worker its own).
        "gpus_used": gpus,
        "cpu_hours": round(seconds * resolved["threads"] / 3600, 6),
        "gpu_hours": round(seconds * gpus / 3600, 6),
        "where": provenance.where(),
        "accelerator": accelerator,
        "environment": provenance.environment(),
        "config": resolved,
    }
    write_json(folder / paths.RUN_RECORD, record)
    write_json(folder / paths.RUN_METRICS, metrics)
    log.info("%s seed %d: %s (%.1f s)", resolved["variant"], resolved["seed"], metrics, seconds)
    return metrics


@hydra.main(version_base="1.3", config_path=str(paths.CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    if not valid_seed(cfg.seed):
        raise SystemExit(f"error: seed={cfg.seed}: {SEED_RULE}.")
    resolved = cast(dict, OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    folder = Path(HydraConfig.get().runtime.output_dir)
    key = identity.shared().of(resolved)
    # The same folder for every run by hand of a variant and seed: an earlier run's checkpoints
    # are resumed only if that run was interrupted with this identity. Hydra's files stay.
    prepare_folder(folder, key, keep=frozenset({".hydra", f"{HydraConfig.get().job.name}.log"}))
    try:
        execute(OmegaConf.to_object(cfg), resolved, folder, key)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None


def start(ours: list[str], theirs: list[str]) -> None:
    """Run `main` with Hydra's arguments: our overrides, then those typed (which win), and flags.

    Hydra reads its arguments from the command line and wants the overrides side by side, so
    ours go just before the first typed override (`key=value`, `+key=...`, `~key`).
    """
    first = next(
        (
            index
            for index, arg in enumerate(theirs)
            if not arg.startswith("-") and ("=" in arg or arg[:1] == "~")
        ),
        len(theirs),
    )
    sys.argv = [sys.argv[0], *theirs[:first], *ours, *theirs[first:]]
    main()


def one(arguments: list[str]) -> None:
    """One run, into outputs/SCALE/VARIANT/seed_SEED unless the arguments say otherwise."""
    start(paths.single_run_overrides(), arguments)
