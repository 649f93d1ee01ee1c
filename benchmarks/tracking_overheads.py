"""What each experiment tracker costs a tier: the main tier with none, each one alone, and all three.

Generates a study with all three trackers (DVCLive, MLflow, W&B offline), then runs its main
tier (30 runs, a worker per core) with `--rerun-all` once per setting of conf/tracking.yaml's
`trackers`, on the same machine, each setting twice in turn, the best of the two kept (walls
move by seconds here from one run to the next). For each it prints the wall time and the overhead per run
over no tracker, (wall - wall without trackers) x slots / runs, where slots is the number of
runs that execute at once (the cores); and whether every run's metrics are the same bits.

Usage: python benchmarks/tracking_overheads.py
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from common import copy_study, timed

TIER = "small"
SETTINGS = [[], ["dvclive"], ["mlflow"], ["wandb"], ["dvclive", "mlflow", "wandb"]]


def measure(study: Path, trackers: list[str]) -> dict:
    path = study / "conf/tracking.yaml"
    settings = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**settings, "trackers": trackers}, sort_keys=False))
    shutil.rmtree(study / "tracking", ignore_errors=True)
    machinery = ["uv", "run", "--frozen", "python", "-m", "study_machinery"]
    started = time.perf_counter()
    timed([*machinery, "tier", TIER, "--rerun-all"], study, PYTHONHASHSEED="0")
    wall = time.perf_counter() - started
    runs = study / "runs" / TIER
    return {
        "label": ", ".join(trackers) or "none",
        "wall": wall,
        "runs": len(list(runs.rglob("run.json"))),
        # The runs' own metrics (DVCLive keeps a metrics.json of its own in dvclive/).
        "metrics": {
            path.relative_to(runs): path.read_bytes()
            for path in runs.rglob("metrics.json")
            if "dvclive" not in path.parts
        },
        "warnings": sum("tracker" in log.read_text() for log in runs.rglob("run.log")),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        study, seconds = copy_study(Path(tmp), "study", trackers=json.dumps(SETTINGS[-1]))
        print(f"copy with all three trackers (installs them, records two tiers): {seconds:.1f} s")
        # Once untimed: the first MLflow store and W&B folder cost their first use (tables, imports).
        measure(study, SETTINGS[-1])
        rounds = [[measure(study, trackers) for trackers in SETTINGS] for _ in range(2)]
        results = [min(pair, key=lambda result: result["wall"]) for pair in zip(*rounds, strict=True)]
    slots, base = os.cpu_count(), results[0]
    print(f"machine: {slots} cores; tier {TIER}: {base['runs']} runs, --rerun-all, same study")
    print(f"{'trackers':<26}{'wall':>8}{'overhead per run':>19}")
    for result in results:
        overhead = (result["wall"] - base["wall"]) * slots / result["runs"]
        print(f"{result['label']:<26}{result['wall']:>7.1f}s{overhead:>18.2f}s")
    same = all(result["metrics"] == base["metrics"] for result in results)
    print(f"metrics identical bit for bit with every setting: {'yes' if same else 'NO'}")
    print(f"runs with a tracker warning: {sum(result['warnings'] for result in results)}")


if __name__ == "__main__":
    main()
