"""One run: Hydra composes and checks its config, the research code runs it, and this module
writes what it produced into the run's folder.

`python -m study_machinery run [OVERRIDES]` starts one run (into outputs/); a tier's runs
(tiers/tier.py) go through `perform` too, with configs composed once for the whole tier.
"""

import hashlib
import logging
import sys
import time
from pathlib import Path
from typing import cast

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from study_machinery import contract, tracking
from study_machinery.core import epochs, paths, provenance
from study_machinery.core.errors import StudyError
from study_machinery.core.study import SEED_RULE, valid_seed
from study_machinery.runs import identity, ranks
from study_machinery.runs.folder import json_text, prepare_folder, write_json

log = logging.getLogger(__name__)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def perform(
    config: object,
    resolved: dict,
    folder: Path,
    key: identity.Identity,
    tier: str | None = None,
    recorded_as: Path | None = None,
    overrides: list[str] | None = None,
    part: ranks.Part | None = None,
) -> dict[str, float]:
    """One run of the research code, recorded in `folder`: run.json, then metrics.json.

    metrics.json comes last: its presence is what marks a run as finished. run.json holds the
    run's identity and the hash of its metrics.json, so that an edited result reads as stale.
    A run of a tier is also logged to the study's trackers (tracking/), after its records;
    they name it by `recorded_as`, the folder its attempt's `folder` becomes once finished.

    A run of several processes (distributed.processes > 1) is started on them from `overrides`
    (runs/ranks.py), whose rank 0 comes back here with its `part` and records it.
    """
    count = ranks.processes(resolved)
    if count > 1 and not ranks.inside():
        if overrides is None:
            raise StudyError("a run of several processes is started from its overrides: none were given.")
        at = recorded_as or folder
        metrics = ranks.launch(overrides, count, resolved["threads"], folder, at, key.key, tier)
        log.info("%s seed %d, on %d processes: %s", resolved["variant"], resolved["seed"], count, metrics)
        return metrics
    contract.load()
    provenance.watch_accelerator()
    with tracking.tracked(tier, resolved, key.key, folder, recorded_as or folder) as trackers:
        metrics = _timed(config, resolved, folder, key, trackers, part)
        trackers.finish(metrics)
    return metrics


def _timed(
    config: object,
    resolved: dict,
    folder: Path,
    key: identity.Identity,
    trackers: tracking.Run,
    part: ranks.Part | None,
) -> dict[str, float]:
    started, clock = _now(), time.perf_counter()
    recorder = epochs.Recorder(folder, forward=trackers.epoch)
    metrics = contract.run(config, folder, recorder)
    recorder.close()
    seconds = time.perf_counter() - clock
    accelerator = provenance.accelerator()
    # One process uses one GPU at most (executors/cores.py gives each worker its own); a run of
    # several, the GPUs of its processes, each with `threads` CPU threads.
    distributed = part.gather() if part is not None else None
    if distributed is None:
        processes, gpus = 1, 1 if accelerator["device"] in ("cuda", "mps") else 0
    else:
        processes = distributed["world_size"]
        gpus = sum(rank["device"] == "cuda" for rank in distributed["ranks"])
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
        "peak_memory_mb": (
            provenance.peak_memory_mb()
            if distributed is None
            else round(sum(rank["peak_memory_mb"] for rank in distributed["ranks"]), 1)
        ),
        "cpu_cores_used": resolved["threads"] * processes,
        "gpus_used": gpus,
        "cpu_hours": round(seconds * resolved["threads"] * processes / 3600, 6),
        "gpu_hours": round(seconds * gpus / 3600, 6),
        "where": provenance.where() if part is None else part.where,
        "accelerator": accelerator,
        # world_size, backend, and each process's host, device and peak memory.
        **({"distributed": distributed} if distributed is not None else {}),
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
    # What a run of several processes is composed from in each (runs/ranks.py): the seed last.
    typed = [override for override in HydraConfig.get().overrides.task if not override.startswith("seed=")]
    try:
        perform(OmegaConf.to_object(cfg), resolved, folder, key, overrides=[*typed, f"seed={cfg.seed}"])
    except (FileNotFoundError, StudyError) as error:
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


def by_hand(arguments: list[str]) -> None:
    """One run, into outputs/SCALE/VARIANT/seed_SEED unless the arguments say otherwise."""
    start(paths.single_run_overrides(), arguments)
