"""One tier of the main result: `python -m <package>.study TIER [hydra overrides]`.

Runs every variant under conf/variant/ with the tier's seeds (conf/study.yaml)
at the scale of the same name (conf/scale/), as one Hydra multirun: a few
worker processes import the libraries once each, rather than once per run
(scikit-learn alone takes seconds).
"""

import sys
from pathlib import Path

from omegaconf import OmegaConf

from .config import CONF_DIR, StudyConfig

# The variant every baseline and ablation is compared with: conf/variant/proposed.yaml.
METHOD = "proposed"


def load_study(conf_dir: Path = CONF_DIR) -> StudyConfig:
    """Read conf/study.yaml, checked against its schema and for seeds enough to measure a spread."""
    schema = OmegaConf.structured(StudyConfig)
    study = OmegaConf.to_object(OmegaConf.merge(schema, OmegaConf.load(conf_dir / "study.yaml")))
    if study.main_tier not in study.tiers:
        raise ValueError(f"{conf_dir / 'study.yaml'}: main_tier {study.main_tier!r} is not one of its tiers.")
    for name, tier in study.tiers.items():
        if len(set(tier.seeds)) < 2:
            raise ValueError(
                f"{conf_dir / 'study.yaml'}: tier {name!r} needs two seeds or more for a spread."
            )
        if len(set(tier.seeds)) != len(tier.seeds):
            raise ValueError(f"{conf_dir / 'study.yaml'}: tier {name!r} lists a seed twice: {tier.seeds}.")
    return study


def variants(conf_dir: Path = CONF_DIR) -> list[str]:
    """Names of the variants, the proposed method first: proposed, baseline/knn, ..."""
    variant_dir = conf_dir / "variant"
    names = sorted(
        path.relative_to(variant_dir).with_suffix("").as_posix() for path in variant_dir.rglob("*.yaml")
    )
    return sorted(names, key=lambda name: name != METHOD)


def main() -> None:
    # Imported here, not at the top: the aggregate stage reads the study too and
    # should not pay for importing scikit-learn.
    from . import run

    study = load_study()
    if len(sys.argv) < 2 or sys.argv[1] not in study.tiers:
        raise SystemExit(f"usage: python -m {__package__}.study TIER, one of: {', '.join(study.tiers)}")
    tier = sys.argv[1]
    sweep = [
        "--multirun",
        f"hydra/launcher={study.tiers[tier].launcher}",
        f"scale={tier}",
        f"variant={','.join(variants())}",
        f"seed={','.join(str(seed) for seed in study.tiers[tier].seeds)}",
    ]
    # Extra arguments go to Hydra, e.g. `hydra.verbose=true`.
    sys.argv = [sys.argv[0], *sweep, *sys.argv[2:]]
    run.main()


if __name__ == "__main__":
    main()
