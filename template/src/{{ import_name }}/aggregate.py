"""Aggregate the runs into the recorded result: `python -m <package>.aggregate RUNS_DIR RESULTS_DIR`.

Writes, for git rather than the DVC cache because they are small and are what
a reader of the repository looks at:
- runs.csv: one row per (variant, seed) with every metric;
- metrics.json: per variant and metric, the mean, the sample standard
  deviation (ddof=1) and n, the number of seeds;
- compute.json: how many runs there were and the seconds spent inside them.
"""

import csv
import json
import statistics
import sys
from pathlib import Path

from .study import load_study, variants


class IncompleteRunsError(RuntimeError):
    """Raised when a run of the study left no metrics behind."""


def collect(runs_dir: Path, names: list[str], seeds: list[int]) -> list[dict]:
    """Every run's metrics, in study order; fails on any run that did not finish."""
    rows, missing = [], []
    for variant in names:
        for seed in seeds:
            run_dir = runs_dir / variant / f"seed_{seed}"
            if not (run_dir / "metrics.json").is_file():
                missing.append(str(run_dir))
                continue
            metrics = json.loads((run_dir / "metrics.json").read_text())
            provenance = json.loads((run_dir / "run.json").read_text())
            rows.append({"variant": variant, "seed": seed, **metrics, "seconds": provenance["seconds"]})
    if missing:
        raise IncompleteRunsError(
            "these runs have no metrics.json (interrupted or never run): "
            + ", ".join(missing)
            + ". Run `uv run dvc repro` to run the study again."
        )
    return rows


def metric_names(rows: list[dict]) -> list[str]:
    return [key for key in rows[0] if key not in {"variant", "seed", "seconds"}]


def summarise(rows: list[dict], names: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    summary = {}
    for variant in names:
        runs = [row for row in rows if row["variant"] == variant]
        summary[variant] = {
            metric: {
                "mean": statistics.fmean(row[metric] for row in runs),
                "std": statistics.stdev(row[metric] for row in runs),
                "n": len(runs),
            }
            for metric in metric_names(rows)
        }
    return summary


def write_results(rows: list[dict], names: list[str], results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    with (results_dir / "runs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle,
            fieldnames=["variant", "seed", *metric_names(rows)],
            extrasaction="ignore",
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(rows)
    summary = summarise(rows, names)
    (results_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    compute = {"runs": len(rows), "run_seconds": round(sum(row["seconds"] for row in rows), 3)}
    (results_dir / "compute.json").write_text(json.dumps(compute, indent=2) + "\n")


def main() -> None:
    runs_dir, results_dir = map(Path, sys.argv[1:3])
    names, seeds = variants(), load_study().seeds
    try:
        rows = collect(runs_dir, names, seeds)
    except IncompleteRunsError as error:
        raise SystemExit(f"error: {error}") from None
    write_results(rows, names, results_dir)


if __name__ == "__main__":
    main()
