"""One tier of the main result: every variant under conf/variant/ with the tier's seeds
(conf/study.yaml) at the scale of the same name (conf/scale/), in runs/TIER/VARIANT/seed_SEED/.

Only what changed runs. Every run is planned first, in this process (runs/plan.py); a finished
run whose identity still matches is kept as it is, and only runs that are missing or stale
execute, each in an attempt folder that replaces the run's folder only once it has finished
(runs/attempt.py). Every run announced is executed or named with its reason, and the counts are
of the runs announced.

Where they execute is the tier's executor (executors/): `cores` and `basic` on this machine
(executors/local.py), `slurm` as a SLURM job array (executors/slurm.py), `ray` as Ray tasks
(executors/ray_tasks.py).
"""

import contextlib
import shutil
import sys
import time
from collections.abc import Iterator

from study_machinery import executors, tracking
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study
from study_machinery.executors import Kind, local, slurm, slurm_submit
from study_machinery.executors.slurm_jobs import Submission, why_ended
from study_machinery.runs.attempt import Outcome, execute, research_warnings
from study_machinery.runs.plan import Planned, plan, state, summary
from study_machinery.tiers.progress import Progress


def _outcomes(executor: executors.Executor, todo: list[Planned]) -> Iterator[Outcome | None]:
    """Each run's outcome as it finishes; None after quiet seconds, for the progress line."""
    if executor.kind is Kind.ray:
        from study_machinery.executors import ray_tasks

        yield from ray_tasks.outcomes(todo, executor, local.cores())
    else:
        yield from local.outcomes(executor, todo)


def run_tier(
    tier: str,
    rerun_all: bool = False,
    executor_name: str | None = None,
    overrides: list[str] = (),
    detach: bool = False,
    resubmit: bool = False,
) -> None:
    """Bring runs/TIER up to date: execute the runs that are missing or stale, keep the rest."""
    # The executor's settings first: a typo there fails before anything is planned or submitted.
    executor = executors.load(executor_name or load_study().tiers[tier].executor, overrides)
    if (detach or resubmit) and executor.kind is not Kind.slurm:
        raise StudyError(f"--detach and --resubmit are for the slurm executor, not {executor.kind.value}.")
    runs = paths.runs_dir(tier)
    planned = plan(tier, runs)
    # Hydra's record of a tier's multirun, from before tiers ran this way (template 0.3 and older).
    (runs / "multirun.yaml").unlink(missing_ok=True)
    states = [("stale", ["--rerun-all"]) if rerun_all else state(run_) for run_ in planned]
    # A forced re-run submitted to SLURM (--rerun-all --detach) is not done until its jobs are.
    states = slurm.with_forced(planned, states)
    print(summary(tier, states), file=sys.stderr, flush=True)
    todo = [run_ for run_, (status, _) in zip(planned, states, strict=True) if status != "done"]
    try:
        if todo:
            tracking.prepare(tier)
            with contextlib.ExitStack() as stack:
                if executor.kind is Kind.slurm:
                    stack.enter_context(slurm_submit.submitting(tier))
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
    # Runs some SLURM job still holds are never run a second time beside it. A forced re-run
    # (--rerun-all) asks for every run again: a job's record in a finished run is its history.
    announced = len(todo)
    in_slurm = slurm.sort(todo, history=rerun_all)
    if executor.kind is not Kind.slurm or rerun_all:
        in_slurm.busy += [(run_, sub, "submitted") for run_, sub in in_slurm.waiting]
    slurm.refuse_busy(tier, in_slurm.busy, "so they are not run again beside them")
    # Their jobs finished them since the plan was made: executed, by SLURM.
    finished = {run_.name for run_ in in_slurm.finished}
    todo = [run_ for run_ in todo if run_.name not in finished]
    for run_ in todo if rerun_all else ():
        run_.fresh = True  # nothing is resumed either: each attempt starts in an empty folder
    started = time.perf_counter()
    failed: list[Outcome] = []
    if executor.kind is Kind.slurm:
        # --rerun-all asks for every run again, those that ended unfinished too.
        done = _on_slurm(tier, in_slurm, executor, detach, resubmit or rerun_all, failed)
        if done is None:
            return
    else:
        progress = Progress(f"runs@{tier}", len(todo))
        try:
            for outcome in _outcomes(executor, todo):
                progress.advance(0 if outcome is None else 1)
                if outcome is not None and outcome.error is not None:
                    failed.append(outcome)
        finally:
            progress.close()
        done = len(todo) - len(failed)
    done += len(finished)
    print(
        f"runs@{tier}: {done} runs executed in {time.perf_counter() - started:.1f} s, "
        f"{len(planned) - announced} kept",
        file=sys.stderr,
    )
    warned = research_warnings([*todo, *in_slurm.finished])
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


# Every run whose job ended unfinished (cancelled, timed out, preempted, failed) gets this hint.
NOT_RESUBMITTED = "not resubmitted (add --resubmit)"
# A forced re-run that ended so blocks the tier until then; the result it would replace is whole.
KEEP_RECORDED = "; to keep its recorded result instead, delete its attempt folder (VARIANT/seed_S.attempt)"


def _written(log: str) -> str:
    """A job's log to point to, or none where SLURM never wrote it (a job it could not launch)."""
    return log if (paths.ROOT / log).is_file() else ""


def _on_slurm(
    tier: str, in_slurm: slurm.Sorted, settings: executors.Slurm, detach: bool, resubmit: bool, failed: list
) -> int | None:
    """Submit what is new, wait for what is submitted; the runs done, or None when detached."""
    # A forced re-run submitted again is still one; it resumes from its own checkpoints.
    forced = frozenset(run_.name for run_, sub in in_slurm.ended if sub.forced)
    if resubmit:
        new = in_slurm.new + [run_ for run_, _ in in_slurm.ended]
    else:
        new = in_slurm.new
        failed += [
            Outcome(
                run_.name,
                f"SLURM: {why_ended(sub)}; {NOT_RESUBMITTED}" + (KEEP_RECORDED if sub.forced else ""),
                _written(sub.log),
            )
            for run_, sub in in_slurm.ended
        ]
    job = slurm_submit.submit(tier, new, settings, forced) if new else None
    if job is not None:
        print(f"runs@{tier}: {len(new)} runs submitted as SLURM job array {job}", file=sys.stderr, flush=True)
    waiting = in_slurm.waiting + [(run_, Submission.of(paths.attempt_dir(run_.folder))) for run_ in new]
    if detach:
        print(slurm.detached_message(tier, job, len(new), len(in_slurm.waiting)), file=sys.stderr)
        if failed:
            raise StudyError(
                f"{len(failed)} runs of tier {tier} ended in SLURM unfinished:\n" + _failures(failed)
            )
        return None
    logs = {run_.name: sub.log for run_, sub in waiting}
    forced_now = {run_.name for run_, sub in waiting if sub is not None and sub.forced}
    progress = Progress(f"runs@{tier}", len(waiting))
    done = 0
    try:
        for run_, why in slurm.wait(waiting, settings.poll_seconds):
            if run_ is None:
                progress.note(f"in SLURM: {why}")
            progress.advance(0 if run_ is None else 1)
            if run_ is not None and why is not None and why.startswith("PENDING"):
                failed.append(Outcome(run_.name, f"SLURM: {why}"))  # it never started: no log
            elif run_ is not None and why is not None:
                hint = NOT_RESUBMITTED + (KEEP_RECORDED if run_.name in forced_now else "")
                failed.append(Outcome(run_.name, f"SLURM: {why}; {hint}", _written(logs[run_.name])))
            done += run_ is not None and why is None
    except KeyboardInterrupt:
        raise StudyError(
            f"interrupted; the submitted runs go on in SLURM. `python -m study_machinery tier {tier} "
            "executor=slurm` collects them later, submitting nothing twice."
        ) from None
    finally:
        progress.close()
    return done


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
        by_error.setdefault(outcome.error, []).append(outcome)
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
