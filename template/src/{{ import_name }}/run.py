"""One run from the command line, e.g. `uv run python -m <package>.run variant=baseline/knn seed=3`.

A thin wrapper around `experiment.run`: Hydra composes and checks the config,
this module writes what the run produced into its output folder.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from . import provenance
from .config import CONF_DIR, Config, register_configs

log = logging.getLogger(__name__)
register_configs()

if "PYTHONHASHSEED" not in os.environ:
    # Setting it from inside the interpreter is too late to take effect.
    print(
        "warning: PYTHONHASHSEED is not set, so str hashes (and set order) differ between "
        "processes. Run through `dvc repro` or nox, or set PYTHONHASHSEED=0 yourself.",
        file=sys.stderr,
    )


def _write_json(path: Path, content: dict) -> None:
    """Write whole or not at all: a run killed mid-write leaves no half file behind."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(content, indent=2) + "\n")
    partial.replace(path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    # Imported on first use: a parallel multirun's parent process then never
    # pays for importing scikit-learn (seconds), only its workers do.
    from .data import MissingDataError
    from .experiment import run

    config: Config = OmegaConf.to_object(cfg)
    started, clock = _now(), time.perf_counter()
    try:
        metrics = run(config)
    except MissingDataError as error:
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


if __name__ == "__main__":
    main()
