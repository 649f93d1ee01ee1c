"""Parallel runs: a grid on 2+ cores with the `cores` launcher against one run after another.

Generates a study with the default answers, then runs the same grid (the
proposed method at the large scale, seeds 0-15: 16 runs of a few seconds each)
twice as a Hydra multirun: with `hydra/launcher=basic` (one after another, in one
process) and with `hydra/launcher=cores` (Hydra's joblib launcher, a worker per
core). Prints both wall times, the speed-up, and whether every run's metrics
are the same bit for bit.

Usage: python benchmarks/parallel_runs.py [--seeds 16]
"""

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from common import copy_study, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=16)
    args = parser.parse_args()
    seeds = ",".join(str(seed) for seed in range(args.seeds))

    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        workdir = Path(tmp)
        study, _ = copy_study(workdir, "study")
        grid = ["uv", "run", "--frozen", "python", "-m", "study_machinery", "run", "--multirun"]
        grid += ["scale=large", "variant=proposed", f"seed={seeds}"]
        walls = {}
        for launcher in ("basic", "cores"):
            sweep = [f"hydra/launcher={launcher}", f"hydra.sweep.dir={workdir / launcher}"]
            walls[launcher] = timed([*grid, *sweep], study, PYTHONHASHSEED="0")

        metrics, seconds = {}, []
        for launcher in walls:
            files = sorted((workdir / launcher).rglob("metrics.json"))
            metrics[launcher] = {path.relative_to(workdir / launcher): path.read_bytes() for path in files}
            seconds += [json.loads(path.with_name("run.json").read_text())["seconds"] for path in files]

    same = metrics["basic"] == metrics["cores"] and len(metrics["basic"]) == args.seeds
    print(f"machine: {os.cpu_count()} cores")
    print(f"grid: {args.seeds} runs, {statistics.fmean(seconds):.2f} s each on average")
    print(f"one after another (basic):   {walls['basic']:6.1f} s")
    print(f"a worker per core (cores):   {walls['cores']:6.1f} s")
    print(f"speed-up:                    {walls['basic'] / walls['cores']:6.2f}x")
    print(f"metrics identical bit for bit: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
