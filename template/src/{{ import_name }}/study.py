"""The main result: every variant under conf/variant/ over the seeds in conf/study.yaml.

All runs go through one Hydra multirun in one process, so the libraries are
imported once rather than once per run (scikit-learn alone takes seconds).
"""

import sys
from pathlib import Path

from omegaconf import OmegaConf

from .config import CONF_DIR, StudyConfig


def load_study(conf_dir: Path = CONF_DIR) -> StudyConfig:
    """Read conf/study.yaml, checked against its schema."""
    schema = OmegaConf.structured(StudyConfig)
    return OmegaConf.to_object(OmegaConf.merge(schema, OmegaConf.load(conf_dir / "study.yaml")))


def variants(conf_dir: Path = CONF_DIR) -> list[str]:
    """Names of the variants, the proposed method first: proposed, baseline/knn, ..."""
    variant_dir = conf_dir / "variant"
    names = sorted(
        path.relative_to(variant_dir).with_suffix("").as_posix() for path in variant_dir.rglob("*.yaml")
    )
    return sorted(names, key=lambda name: name != "proposed")


def main() -> None:
    # Imported here, not at the top: the aggregate stage reads the study too and
    # should not pay for importing scikit-learn.
    from . import run

    study = load_study()
    sweep = [
        "--multirun",
        f"variant={','.join(variants())}",
        f"seed={','.join(str(seed) for seed in study.seeds)}",
    ]
    # Extra arguments go to Hydra, e.g. `hydra.verbose=true`.
    sys.argv = [sys.argv[0], *sweep, *sys.argv[1:]]
    run.main()


if __name__ == "__main__":
    main()
