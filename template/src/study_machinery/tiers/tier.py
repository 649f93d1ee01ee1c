"""One tier of the main result: every variant under conf/variant/ with the tier's seeds
(conf/study.yaml) at the scale of the same name (conf/scale/), in runs/TIER/VARIANT/seed_SEED/.

Only what changed runs. Every run is planned first, in this process (runs/plan.py); a finished
run whose identity still matches is kept as it is, and only runs that are missing or stale
execute, each in an attempt folder that replaces the run's folder only once it has finished
(runs/attempt.py). Every run announced is executed or named with its reason, and the counts are
of the runs announced.

Where they execute is the tier's executor, named by conf/study.yaml or the command: this
module hands the runs to it through the one interface every executor has (executors/), and
knows none by name.
"""

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from study_machinery import executors, tracking
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study
from study_machinery.executors import Submission, records
from study_machinery.runs.attempt import execute
from study_machinery.runs.plan import plan, planned_from, state, summary
from study_machinery.tiers.batch import Batch, execute_batch


def run_tier(
    tier: str,
    rerun_all: bool = False,
    executor_name: str | None = None,
    overrides: Sequence[str] = (),
    detach: bool = False,
    resubmit: bool = False,
) -> None:
    """Bring runs/TIER up to date: execute the runs that are missing or stale, keep the rest."""
    # The executor's settings first: a typo there fails before anything is planned or submitted.
    executor = executors.load(executor_name or load_study().tiers[tier].executor, overrides)
    if (detach or resubmit) and not executor.outlives:
        raise StudyError(
            "--detach and --resubmit are for executors whose runs outlive the tier command (a "
            f"cluster's queue, as slurm's), not {executor.name}."
        )
    runs = paths.runs_dir(tier)
    planned = plan(tier, runs)
    states = [("stale", ["--rerun-all"]) if rerun_all else state(run_) for run_ in planned]
    # A forced re-run still submitted (--rerun-all --detach) is not done until its jobs are.
    states = records.with_forced(planned, states)
    print(summary(tier, states), file=sys.stderr, flush=True)
    todo = [run_ for run_, (status, _) in zip(planned, states, strict=True) if status != "done"]
    try:
        if todo:
            tracking.prepare(tier)
            batch = Batch(tier, f"runs@{tier}", f"tier {tier}", f"runs of tier {tier}")
            with executor.session(tier):
                kept = len(planned) - len(todo)
                executed = execute_batch(batch, todo, executor, kept, rerun_all, detach, resubmit)
            if executed.failed:
                raise StudyError(executed.failure(f"tier {tier}"))
    finally:
        # Also when some runs failed: the others' DVCLive files are listed all the same.
        tracking.index(tier, [run_.folder for run_ in planned])


def run_job(overrides: list[str], folder: Path, identity: str, tier: str | None = None) -> None:
    """One run as a cluster job runs it (`Planned.job`): only if its identity is still the one submitted."""
    run_ = planned_from(overrides, folder, tier)
    if tier is not None and run_.seed not in load_study().kept(tier, run_.variant):
        raise StudyError(f"tier {tier} no longer has {run_.name}: not run.")
    if run_.identity.key != identity:
        raise StudyError(
            f"{run_.name}: its config, code, data or environment changed since it was submitted, so it "
            "was not run. Run the tier again to submit it as it is now."
        )
    attempt = paths.attempt_dir(run_.folder)
    submission = Submission.of(attempt)
    if state(run_)[0] == "done" and not (submission is not None and submission.forced):
        # Its attempt, this job's record in it, goes: the tier that waits sees the run done.
        shutil.rmtree(attempt, ignore_errors=True)
        print(f"{run_.name} is done already (its job ran twice?): kept as it is.", file=sys.stderr)
        return
    # What the submission recorded stays: the tier command that collects the run reads it.
    outcome = execute(run_, keep=frozenset({paths.SUBMITTED}))
    if outcome.error is not None:
        raise StudyError(f"{outcome.error} (log: {outcome.log})")
