"""Weights & Biases: one W&B run per run of a tier, in the group TIER of the project PROJECT.

Offline by default: each run is a folder tracking/wandb/offline-run-TIME-ID/ that
`uv run wandb sync tracking/wandb/offline-run-*` uploads later. Each W&B run is finished when
its run ends, so that runs following one another in a worker never share one.
"""

import os

from .tracking import STORE, Context, WandbSettings


class WandbRun:
    def __init__(self, settings: WandbSettings, context: Context) -> None:
        # No banner, no prompt: a missing login fails (and is warned about) rather than waits.
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        STORE.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=context.project,
            entity=settings.entity,
            group=context.tier,
            job_type=context.variant,
            name=context.name,
            tags=[f"{key}={value}" for key, value in context.tags().items() if key in ("variant", "seed", "tier")],
            notes=f"provenance: {context.provenance}",
            config={**context.config, "run": context.tags()},
            dir=str(STORE),
            mode=settings.mode.value,
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True),
        )

    def epoch(self, epoch: int, scores: dict[str, float]) -> None:
        self.run.log({**scores, "epoch": epoch}, step=epoch)

    def finish(self, metrics: dict[str, float]) -> None:
        self.run.summary.update(metrics)
        self.run.finish()

    def fail(self) -> None:
        self.run.finish(exit_code=1)
