"""One tier of the main result: every variant under conf/variant/ with the tier's seeds
(conf/study.yaml) at the scale of the same name (conf/scale/), in runs/TIER/VARIANT/seed_SEED/.

Only what changed runs. Every run is planned first, in this process (plan.py); a finished
run whose identity still matches is kept as it is, and only runs that are missing or stale
execute. Each executes in an attempt folder beside its own (paths.attempt_dir), which
replaces the run's folder only once the run has finished: a run killed in flight, or failed,
leaves the recorded result as it was, and is the only one the next `dvc repro` executes. Every
run announced is executed or named with its reason, and the counts are of the runs announced.

Where they execute is the tier's executor (executors.py): `cores` runs them in one worker
process per core, each importing the libraries once (scikit-learn alone takes seconds); `basic`
one after another in this process, which is quicker for runs of milliseconds (starting workers
costs seconds); `slurm` as a SLURM job array (slurm.py); `ray` as Ray tasks (on_ray.py).
"""

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

from . import contract, executors, paths, provenance, run, slurm, tracking
from .errors import StudyError, first_line
from .executors import Kind
from .plan import Planned, plan, state, summary
from .study import load_study

# Without a terminal (CI, a SLURM log), a progress line at least this often, in seconds.
LOG_EVERY = 30.0
# A run whose config says `device: auto` or `cuda` takes a GPU when there is one (PyTorch studies).
GPU_DEVICES = ("auto", "cuda")
# A record of run.log, as `execute` writes it, and what research_warnings reads back of one.
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
LOGGED = re.compile(
    r"^\[[^\]]*\]\[(?P<logger>[\w.]+)\]\[(?:WARNING|ERROR|CRITICAL)\] - (?P<message>.*)$", re.M
)
# Ended: finished, or failed (each failure is named at the end).
PROGRESS = "{desc}: {n_fmt}/{total_fmt} runs ended, {elapsed} elapsed, about {remaining} left"


@dataclass
class Outcome:
    name: str
    error: str | None = None
    log: str = ""


def execute(run_: Planned, keep: frozenset[str] = frozenset()) -> Outcome:
    """Run one planned run, its log in run.log; never raises for a run's error.

    It executes in its attempt folder, which replaces the run's folder once it has finished:
    until then, the result recorded there stays whole, whatever happens to the attempt.
    """
    try:
        attempt = run.prepare_attempt(run_.folder, run_.identity, keep, fresh=run_.fresh)
    except OSError as error:  # a folder that cannot be moved or emptied (a file held open elsewhere)
        return Outcome(run_.name, f"its attempt folder could not be made ready: {first_line(error)}")
    if attempt is None:
        return Outcome(run_.name)  # it had finished, and was stopped before it replaced its folder
    log_file = attempt / "run.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        run.execute(run_.config, run_.resolved, attempt, run_.identity, run_.tier, recorded_as=run_.folder)
    except Exception as error:  # a run's failure is reported by name; the others go on
        logging.getLogger(__name__).error("%s failed:\n%s", run_.name, traceback.format_exc())
        return Outcome(run_.name, first_line(error), paths.shown(log_file))
    finally:
        root.removeHandler(handler)
        handler.close()
    try:
        run.swap_in(attempt, run_.folder)
    except OSError as error:
        return Outcome(
            run_.name,
            f"it finished, but its attempt could not replace the run's folder ({first_line(error)}); "
            "the next tier command puts it in place without running it again",
            paths.shown(log_file),
        )
    return Outcome(run_.name)


def _cores() -> int:
    # The cores this process may use (a SLURM allocation or taskset), not the machine's.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _gpus() -> list[str]:
    """The CUDA GPUs this process may use: those CUDA_VISIBLE_DEVICES lists, else nvidia-smi's."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [gpu.strip() for gpu in visible.split(",") if gpu.strip()]
    return [str(index) for index in range(len(provenance.gpu_models()))]


def _pin_gpu(queue: "multiprocessing.Queue[str]") -> None:
    """In a new worker, before it imports anything that starts CUDA: see one GPU, its own."""
    os.environ["CUDA_VISIBLE_DEVICES"] = queue.get()


def _outcomes(executor: executors.Executor, todo: list[Planned]) -> Iterator[Outcome | None]:
    """Each run's outcome as it finishes; None after LOG_EVERY quiet seconds, for the progress."""
    if executor.kind is Kind.ray:
        from . import on_ray

        yield from on_ray.outcomes(todo, executor, _cores())
        return
    if executor.kind is Kind.basic or len(todo) == 1:
        yield from map(execute, todo)
        return
    threads = max(run_.resolved["threads"] for run_ in todo)
    workers = max(1, min(len(todo), executor.workers or _cores() // threads))
    # spawn, not fork: a fresh interpreter per worker, the same on Linux, macOS and Windows.
    context = multiprocessing.get_context("spawn")
    gpus = _gpus() if any(run_.resolved.get("device") in GPU_DEVICES for run_ in todo) else []
    pinning = {}
    if gpus:
        # One run per GPU: as many workers as GPUs (at most), each seeing only its own.
        workers = min(workers, len(gpus))
        queue = context.Queue()
        for gpu in gpus[:workers]:
            queue.put(gpu)
        pinning = {"initializer": _pin_gpu, "initargs": (queue,)}
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, **pinning)
    try:
        pending = {pool.submit(execute, run_): run_ for run_ in todo}
        while pending:
            finished, _ = concurrent.futures.wait(
                pending, timeout=LOG_EVERY, return_when=concurrent.futures.FIRST_COMPLETED
            )
            if not finished:
                yield None
            for future in finished:
                run_ = pending.pop(future)
                try:
                    yield future.result()
                except concurrent.futures.BrokenExecutor:
                    yield Outcome(run_.name, "its worker process died (out of memory, or killed)")
    finally:
        # Interrupted: the runs not started are dropped, the ones in flight leave no metrics.json.
        pool.shutdown(wait=True, cancel_futures=True)


class Progress:
    """Runs done of total, elapsed and left: a live bar in a terminal, plain lines in a log."""

    def __init__(self, label: str, total: int) -> None:
        from tqdm import tqdm

        self.label, self.total, self.done, self.said = label, total, 0, ""
        self.started = self.printed = time.monotonic()
        self.bar = tqdm(total=total, desc=label, unit="run", file=sys.stderr) if sys.stderr.isatty() else None
        self.format = tqdm.format_meter

    def note(self, said: str) -> None:
        """What the progress line says besides the counts (SLURM: the jobs' states)."""
        self.said = said
        if self.bar is not None:
            self.bar.set_postfix_str(said, refresh=False)

    def advance(self, by: int = 0) -> None:
        """Count finished runs; in a log, print a line when enough time has passed or all are done."""
        self.done += by
        if self.bar is not None:
            self.bar.update(by)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.printed >= LOG_EVERY or (by and self.done == self.total):
            line = self.format(
                self.done, self.total, now - self.started, prefix=self.label, bar_format=PROGRESS
            )
            print(line + (f" ({self.said})" if self.said else ""), file=sys.stderr, flush=True)
            self.printed = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


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
                    stack.enter_context(slurm.submitting(tier))
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
                f"SLURM: {slurm.why_ended(sub)}; {NOT_RESUBMITTED}" + (KEEP_RECORDED if sub.forced else ""),
                _written(sub.log),
            )
            for run_, sub in in_slurm.ended
        ]
    job = slurm.submit(tier, new, settings, forced) if new else None
    if job is not None:
        print(f"runs@{tier}: {len(new)} runs submitted as SLURM job array {job}", file=sys.stderr, flush=True)
    waiting = in_slurm.waiting + [(run_, slurm.Submission.of(paths.attempt_dir(run_.folder))) for run_ in new]
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
    submission = slurm.Submission.of(attempt)
    if state(run_)[0] == "done" and not (submission is not None and submission.forced):
        # Its attempt, this job's record in it, goes: the tier that waits sees the run done.
        shutil.rmtree(attempt, ignore_errors=True)
        print(f"{run_.name} is done already (its job ran twice?): kept as it is.", file=sys.stderr)
        return
    # What the submission recorded stays: the tier command that collects the run reads it.
    outcome = execute(run_, keep=frozenset({slurm.SUBMITTED}))
    if outcome.error is not None:
        raise StudyError(f"{outcome.error} (log: {outcome.log})")


def research_warnings(runs: list[Planned]) -> dict[str, list[str]]:
    """What the research code warned of in each run (a checkpoint it could not use), by run name.

    From the run.log of each run, finished (its folder) or not (its attempt): on every
    executor, SLURM's jobs included, the tier's output says what only the run's log would.
    """
    package = contract.PACKAGE
    warned = {}
    for run_ in runs:
        # An attempt that is still there is the run's latest (the recorded folder is older).
        attempt = paths.attempt_dir(run_.folder)
        log = (attempt if attempt.is_dir() else run_.folder) / "run.log"
        if not log.is_file():
            continue
        text = log.read_text(encoding="utf-8", errors="replace")
        found = [
            match["message"]
            for match in LOGGED.finditer(text)
            if match["logger"] == package or match["logger"].startswith(f"{package}.")
        ]
        if found:
            # A resumed attempt's log holds its earlier tries' too: each warning said once.
            warned[run_.name] = list(dict.fromkeys(found))
    return warned


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
