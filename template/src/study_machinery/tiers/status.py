"""Each run of each tier: done, stale (and what changed) or missing, and where a cluster's job has
it (`python -m study_machinery status`)."""

from study_machinery.core import paths
from study_machinery.executors.records import whereabouts, with_forced
from study_machinery.runs.plan import plan, state, summary, unused


def print_status(names: list[str], summary_only: bool = False) -> None:
    todo = total = 0
    for name in names:
        planned = plan(name)
        states = with_forced(planned, [state(run) for run in planned])
        if not summary_only:
            unfinished = [run for run, (status, _) in zip(planned, states, strict=True) if status != "done"]
            held = whereabouts(unfinished)
            for run, (status, why) in zip(planned, states, strict=True):
                why = why + ([held[run.name]] if run.name in held else [])
                reasons = f" ({', '.join(why)})" if why else ""
                print(f"{name:<8} {run.variant:<32} seed {run.seed:<4} {status}{reasons}")
            for folder in unused(paths.runs_dir(name), planned):
                print(f"{name:<8} {folder:<42} not in the tier: kept, unused (delete it to drop it)")
        print(summary(name, states))
        todo += sum(status != "done" for status, _ in states)
        total += len(states)
    if len(names) > 1:
        print(f"all tiers: {todo} of {total} runs to execute")
