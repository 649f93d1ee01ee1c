"""One tier of the main result: every variant under conf/variant/ with the tier's seeds
(conf/study.yaml) at the scale of the same name (conf/scale/), as one Hydra multirun.

A multirun lets a few worker processes import the libraries once each, rather than once
per run (scikit-learn alone takes seconds).
"""

from . import paths, run
from .study import load_study, variants


def sweep(tier: str) -> list[str]:
    """The Hydra overrides of a tier's multirun."""
    settings = load_study().tiers[tier]
    return [
        f"hydra/launcher={settings.launcher}",
        *paths.tier_overrides(tier),
        f"scale={tier}",
        f"variant={','.join(variants())}",
        f"seed={','.join(str(seed) for seed in settings.seeds)}",
    ]


def run_tier(tier: str, arguments: list[str]) -> None:
    """Run the tier; `arguments` go to Hydra after the sweep's own, e.g. `hydra.verbose=true`."""
    run.start(sweep(tier), ["--multirun", *arguments])
