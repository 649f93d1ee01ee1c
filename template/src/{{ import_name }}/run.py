"""One run from the command line, e.g. `uv run python -m <package>.run variant=baseline/knn seed=3`.

A thin wrapper around `experiment.run`: Hydra composes and checks the config,
this module writes what the run produced into its output folder.
"""

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .config import CONF_DIR, Config, register_configs
from .data import MissingDataError

log = logging.getLogger(__name__)
register_configs()

if "PYTHONHASHSEED" not in os.environ:
    # Setting it from inside the interpreter is too late to take effect.
    print(
        "warning: PYTHONHASHSEED is not set, so str hashes (and set order) differ between "
        "processes. Run through `dvc repro` or nox, or set PYTHONHASHSEED=0 yourself.",
        file=sys.stderr,
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    # Imported on first use: a parallel multirun's parent process then never
    # pays for importing scikit-learn, only its workers do.
    from .experiment import run

    config: Config = OmegaConf.to_object(cfg)
    started, clock = _now(), time.perf_counter()
    try:
        metrics = run(config)
    except MissingDataError as error:
        raise SystemExit(f"error: {error}") from None
    seconds = time.perf_counter() - clock

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    provenance = {
        "variant": config.variant,
        "seed": config.seed,
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    (output_dir / "run.json").write_text(json.dumps(provenance, indent=2) + "\n")
    log.info("%s seed %d: %s (%.1f s)", config.variant, config.seed, metrics, seconds)


if __name__ == "__main__":
    main()
