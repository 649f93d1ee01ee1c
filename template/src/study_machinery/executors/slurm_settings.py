"""The settings of the slurm executor (conf/executor/slurm.yaml), and what sbatch would refuse."""

import re
from dataclasses import dataclass, field

from study_machinery.core.errors import StudyError


@dataclass
class Slurm:
    kind: str = "slurm"
    # null: the cluster's default partition and account.
    partition: str | None = None
    account: str | None = None
    # Per run, in any format sbatch's --time takes (minutes, H:MM:SS, D-HH:MM:SS).
    time_limit: str = "1:00:00"
    # CPU cores per run; null: the run's own `threads`, which is what it uses. This and
    # gpus_per_run are per process: a run of distributed.processes N gets N times them.
    cpus_per_run: int | None = None
    # Memory per run, in sbatch's --mem format.
    memory_per_run: str = "4G"
    gpus_per_run: int = 0
    # At most this many runs at once (the array's %N); null: as many as the cluster gives.
    max_parallel: int | None = None
    # Any other sbatch options, e.g. ["--qos=short", "--constraint=a100"].
    sbatch_options: list[str] = field(default_factory=list)
    # Shell lines each job runs before its run, e.g. ["module load cuda/12.4"].
    setup: list[str] = field(default_factory=list)
    # How often a waiting tier command asks SLURM about its jobs, in seconds.
    poll_seconds: float = 30.0


# sbatch's --time: minutes, MM:SS, H:MM:SS, D-H, D-H:MM or D-H:MM:SS.
TIME_LIMIT = re.compile(r"\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+(:\d{1,2}){0,2}")


def check(settings: Slurm, content: dict, shown: str) -> None:
    """What the schema cannot say: the file's `content` as written, shown as `shown`."""
    if not isinstance(content.get("time_limit", ""), str):
        # YAML reads an unquoted 4:00:00 as the base-60 number 14400, which sbatch would take
        # for 14400 minutes.
        raise StudyError(
            f'{shown}: write time_limit in quotes, e.g. time_limit: "4:00:00" (unquoted, YAML reads '
            "4:00:00 as the number 14400)."
        )
    if not TIME_LIMIT.fullmatch(settings.time_limit):
        raise StudyError(f"{shown}: time_limit {settings.time_limit!r} is not a format of sbatch's --time.")
    if settings.poll_seconds <= 0:
        raise StudyError(f"{shown}: poll_seconds must be above 0.")
