"""Weights & Biases: one W&B run per run of a tier, in the group TIER of the project PROJECT.

Offline by default: each run is a folder tracking/wandb/offline-run-TIME-ID/ that
`uv run wandb sync tracking/wandb/offline-run-*` uploads later. Each W&B run is finished when
its run ends (reinit="create_new": never the run still open in the process), so that runs
following one another in a worker never share one.
"""

import netrc
import os
from urllib.parse import urlparse

from study_machinery.tracking.settings import STORE, Context, WandbMode, WandbSettings

# W&B refuses longer tags.
TAG_LENGTH = 64


def _logged_in() -> bool:
    """Whether W&B has a key: in the environment, or where `wandb login` puts it (~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return host is not None and netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbRun:
    def __init__(self, settings: WandbSettings, context: Context) -> None:
        # Online without a key, W&B asks for one at the terminal, and the run would wait there.
        if settings.mode is WandbMode.online and not _logged_in():
            raise RuntimeError("mode online needs a W&B key: run `uv run wandb login` once, or use offline")
        # No banner: W&B prints some twenty lines per run otherwise.
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        STORE.mkdir(parents=True, exist_ok=True)
        tags = {key: value for key, value in context.tags().items() if key in ("variant", "seed", "tier")}
        self.run = wandb.init(
            project=context.project,
            entity=settings.entity,
            group=context.tier,
            job_type=context.variant,
            name=context.name,
            tags=[f"{key}={value}"[:TAG_LENGTH] for key, value in tags.items()],
            notes=f"provenance: {context.provenance}",
            config={**context.config, "run": context.tags()},
            dir=str(STORE),
            # Given here, not only in the environment: offline then never prompts for a login.
            mode=settings.mode.value,
            reinit="create_new",
            # A new Settings per run: wandb.init writes into the one it is given.
            settings=wandb.Settings(
                silent=True, console="off", x_disable_stats=True, x_save_requirements=False, disable_git=True
            ),
        )

    def epoch(self, epoch: int, scores: dict[str, float]) -> None:
        self.run.log({**scores, "epoch": epoch}, step=epoch)

    def finish(self, metrics: dict[str, float]) -> None:
        self.run.summary.update(metrics)
        self.run.finish()

    def fail(self) -> None:
        self.run.finish(exit_code=1)
