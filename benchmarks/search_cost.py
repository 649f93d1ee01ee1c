"""What a search costs: a tier's search against the tier's main result, and a search replayed.

Generates a study with the default answers (its first record is the copy's), then times, with
`python -m study_machinery`, at each tier given (default: smoke):
- the tier's main result executed again (`tier TIER --rerun-all`), for scale;
- the tier's search (`tune TIER`), from nothing: every tuned variant's trials, each over the
  tier's seeds, and the runs it executed;
- the same search again with nothing changed: it replays every trial and executes none.

It prints each as wall time and runs executed, and the search's cost as a multiple of the main
result's, measured in the same run.

Usage: python benchmarks/search_cost.py [TIER ...]
"""

import sys
import tempfile
from pathlib import Path

from common import copy_study, timed

MACHINERY = ["uv", "run", "--frozen", "--no-sync", "python", "-m", "study_machinery"]


def run_records(folder: Path) -> dict[Path, int]:
    """Each run's run.json and when it was written: a run that executes writes a new one."""
    return {path: path.stat().st_mtime_ns for path in folder.rglob("run.json")} if folder.is_dir() else {}


def executed(before: dict[Path, int], after: dict[Path, int]) -> int:
    return sum(1 for path, written in after.items() if before.get(path) != written)


def main(tiers: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        study, _ = copy_study(Path(tmp), "study")
        print(f"{'tier':<8} {'what':<34} {'wall s':>8} {'runs executed':>14}")
        for tier in tiers:
            runs, trials = study / "runs" / tier, study / "trials" / tier
            before = run_records(runs)
            main_result = timed([*MACHINERY, "tier", tier, "--rerun-all"], study, PYTHONHASHSEED="0")
            ran = executed(before, run_records(runs))
            print(f"{tier:<8} {'main result (every run again)':<34} {main_result:>8.1f} {ran:>14}")
            search = timed([*MACHINERY, "tune", tier], study, PYTHONHASHSEED="0")
            searched = run_records(trials)
            print(f"{tier:<8} {'search, from nothing':<34} {search:>8.1f} {len(searched):>14}")
            again = timed([*MACHINERY, "tune", tier], study, PYTHONHASHSEED="0")
            ran = executed(searched, run_records(trials))
            print(f"{tier:<8} {'search again, nothing changed':<34} {again:>8.1f} {ran:>14}")
            print(f"{tier:<8} the search costs {search / main_result:.1f} times the main result")


if __name__ == "__main__":
    main(sys.argv[1:] or ["smoke"])
