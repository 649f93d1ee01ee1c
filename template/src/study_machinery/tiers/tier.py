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
import time
from collections.abc import Sequence

from study_machinery import executors, tracking
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study
from study_machinery.executors import Submission, records
from study_machinery.runs.attempt import Outcome, execute, research_warnings
from study_machinery.runs.plan import Planned, plan, state, summary
from study_machinery.tiers.progress import Progress


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
            with executor.session(tier):
                _execute_tier(tier, planned, todo, executor, rerun_all, detach, resubmit)
    finally:
        # Also when some runs failed: the others' DVCLive files are listed all the same.
        tracking.index(tier, [run_.folder for run_ in planned])


def _execute_tier(
    tier: str,
    planned: list[Planned],
    todo: list[Planned],
    executor: executors.Executor,
    rerun_all: bool,
    detach: bool,
    resubmit: bool,
) -> None:
    # Runs some job still holds are never run a second time beside it. A forced re-run
    # (--rerun-all) asks for every run again: a job's record in a finished run is its history.
    announced = len(todo)
    held = records.sort(todo, history=rerun_all)
    if not executor.outlives or rerun_all:
        held.busy += [(run_, sub, "submitted") for run_, sub in held.waiting]
        held.waiting = []
    records.refuse_busy(tier, held.busy, "so they are not run again beside them")
    # Their jobs finished them since the plan was made: executed, elsewhere.
    finished = {run_.name for run_ in held.finished}
    todo = [run_ for run_ in todo if run_.name not in finished]
    for run_ in todo if rerun_all else ():
        run_.fresh = True  # nothing is resumed either: each attempt starts in an empty folder
    started = time.perf_counter()
    failed: list[Outcome] = []
    new, forced = todo, frozenset[str]()
    if executor.outlives:
        # A forced re-run submitted again is still one; it resumes from its own checkpoints.
        forced = frozenset(run_.name for run_, sub in held.ended if sub.forced)
        new = held.new + [run_ for run_, _ in held.ended] if resubmit or rerun_all else held.new
        if not (resubmit or rerun_all):
            failed += [_ended(run_, sub) for run_, sub in held.ended]
    line = executor.submit(tier, new, forced) if new else None
    if line:
        print(f"runs@{tier}: {line}", file=sys.stderr, flush=True)
    waiting = [run_ for run_, _ in held.waiting] + new
    if detach:
        print(_detached(tier, executor, len(held.waiting)), file=sys.stderr)
        if failed:
            raise StudyError(
                f"{len(failed)} runs of tier {tier} ended in {executor.label} unfinished:\n"
                + _failures(failed)
            )
        return
    done = len(finished)
    progress = Progress(f"runs@{tier}", len(waiting))
    try:
        for event in executor.outcomes(tier, waiting):
            if isinstance(event, str):
                progress.note(event)
            progress.advance(1 if isinstance(event, Outcome) else 0)
            if isinstance(event, Outcome) and event.error is not None:
                failed.append(event)
            done += isinstance(event, Outcome) and event.error is None
    except KeyboardInterrupt:
        if not executor.outlives:
            raise
        raise StudyError(
            f"interrupted; the submitted runs go on in {executor.label}. `python -m study_machinery "
            f"tier {tier} executor={executor.name}` collects them later, submitting nothing twice."
        ) from None
    finally:
        progress.close()
    print(
        f"runs@{tier}: {done} runs executed in {time.perf_counter() - started:.1f} s, "
        f"{len(planned) - announced} kept",
        file=sys.stderr,
    )
    warned = research_warnings([*todo, *held.finished])
    if warned:
        print(
            f"runs@{tier}: your research code warned in {len(warned)} runs (their run.log has the rest):\n"
            + "\n".join(f"  {name}: {warning}" for name, warnings in warned.items() for warning in warnings),
            file=sys.stderr,
        )
    if failed:
        others = "the others are recorded and will not run again; " if len(failed) < announced else ""
        raise StudyError(
            f"{len(failed)} of {announced} runs of tier {tier} failed; {others}each failed run's "
            "recorded files, if any, stay as they were:\n" + _failures(failed)
        )


def _ended(run_: Planned, sub: Submission) -> Outcome:
    """A run whose job ended unfinished before this command looked, and which is not resubmitted."""
    engine = records.engine_of(sub)
    hint = records.NOT_RESUBMITTED + (records.KEEP_RECORDED if sub.forced else "")
    return Outcome(run_.name, f"{engine.label}: {engine.why_ended(sub)}; {hint}", records.written(sub.log))


def _detached(tier: str, executor: executors.Executor, waiting: int) -> str:
    lines = []
    if waiting:
        lines.append(f"runs@{tier}: {waiting} runs submitted earlier are still in {executor.label}.")
    lines.append(
        f"Your shell is free. `python -m study_machinery status {tier}` shows where they are; "
        f"`python -m study_machinery tier {tier} executor={executor.name}` (or `dvc repro`, `nox -s record`) "
        "waits for what is left and collects it, submitting nothing twice."
    )
    return "\n".join(lines)


def run_job(tier: str, variant: str, seed: int, identity: str) -> None:
    """One run of a tier as a cluster job runs it: only if its identity is still the one submitted."""
    planned = [run_ for run_ in plan(tier) if run_.variant == variant and run_.seed == seed]
    if not planned:
        raise StudyError(f"tier {tier} no longer has {variant} seed {seed}: not run.")
    run_ = planned[0]
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


def _failures(failed: list[Outcome], shown: int = 5) -> str:
    """The failed runs with their error and log, the same error said once (missing data fails them all)."""
    by_error: dict[str, list[Outcome]] = {}
    for outcome in failed:
        by_error.setdefault(outcome.error or "failed", []).append(outcome)
    lines = []
    for error, outcomes in by_error.items():
        names = ", ".join(o.name for o in outcomes[:shown]) + (
            f" and {len(outcomes) - shown} more" if len(outcomes) > shown else ""
        )
        logs = outcomes[0].log + (
            " (and the others' run.log)" if len(outcomes) > 1 and outcomes[0].log else ""
        )
        lines.append(f"  {names}: {error}" + (f"\n    log: {logs}" if logs else ""))
    return "\n".join(lines)
