"""One run: Hydra composes and checks its config, the research code runs it, and this module
writes what it produced into the run's folder.

`python -m study_machinery run [OVERRIDES]` starts one run (into outputs/); `... tier TIER`
starts every variant and seed of a tier as one multirun of the same function (into runs/).
"""

import json
import logging
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from . import contract, paths, provenance

log = logging.getLogger(__name__)


def _write_json(path: Path, content: dict) -> None:
    """Write whole or not at all: a run killed mid-write leaves no half file behind."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    partial.replace(path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@hydra.main(version_base="1.3", config_path=str(paths.CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    config = OmegaConf.to_object(cfg)
    started, clock = _now(), time.perf_counter()
    try:
        metrics = contract.run(config)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    seconds = time.perf_counter() - clock

    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    record = {
        "variant": config.variant,
        "scale": config.scale,
        "seed": config.seed,
        "config_sha256": provenance.config_hash(resolved),
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "peak_memory_mb": provenance.peak_memory_mb(),
        "cpu_cores_used": config.threads,
        "gpus_used": 0,
        "environment": provenance.environment(),
        "config": resolved,
    }
    # metrics.json last: its presence is what marks a run as finished.
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    _write_json(output_dir / "run.json", record)
    _write_json(output_dir / "metrics.json", metrics)
    log.info("%s seed %d: %s (%.1f s)", config.variant, config.seed, metrics, seconds)


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
