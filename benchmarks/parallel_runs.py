"""Parallel runs: a tier on 2+ cores with the `cores` executor against one run after another.

Generates a study with the default answers, then runs its `small` tier with more seeds
(every variant, seeds 0-7: 48 runs) twice with `--rerun-all`: with `executor: basic`
(one run after another, in the tier's process) and with `executor: cores` (a worker
process per core). Prints both wall times, the speed-up, and whether every run's metrics
are the same bit for bit.

Usage: python benchmarks/parallel_runs.py [--seeds 8]
"""

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import yaml
from common import copy_study, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        workdir = Path(tmp)
        study, _ = copy_study(workdir, "study")
        study_file = study / "conf/study.yaml"
        settings = yaml.safe_load(study_file.read_text())
        tier = ["uv", "run", "--frozen", "python", "-m", "study_machinery", "tier", "small", "--rerun-all"]
        walls, metrics, seconds = {}, {}, []
        for executor in ("basic", "cores"):
            settings["tiers"]["small"] = {"seeds": list(range(args.seeds)), "executor": executor}
            study_file.write_text(yaml.safe_dump(settings))
            walls[executor] = timed(tier, study, PYTHONHASHSEED="0")
            files = sorted((study / "runs/small").rglob("metrics.json"))
            metrics[executor] = {path.relative_to(study): path.read_bytes() for path in files}
            seconds += [json.loads(path.with_name("run.json").read_text())["seconds"] for path in files]
        runs = len(metrics["basic"])

    same = metrics["basic"] == metrics["cores"]
    print(f"machine: {os.cpu_count()} cores")
    print(f"tier: {runs} runs, {statistics.fmean(seconds):.2f} s each on average")
    print(f"one after another (basic):   {walls['basic']:6.1f} s")
    print(f"a worker per core (cores):   {walls['cores']:6.1f} s")
    print(f"speed-up:                    {walls['basic'] / walls['cores']:6.2f}x")
    print(f"metrics identical bit for bit: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
