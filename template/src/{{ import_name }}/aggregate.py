"""Aggregate one tier's runs into its recorded result: `python -m <package>.aggregate TIER`.

Reads runs/TIER/ and writes to results/TIER/, for git rather than the DVC
cache because these files are small and are what a reader looks at:
- runs.csv: one row per (variant, seed) with every metric;
- metrics.json: per variant and metric, the mean, the sample standard
  deviation (ddof=1) and n, the number of seeds;
- compute.json: the compute spent inside the runs, in CPU and GPU hours, and
  an estimate of its energy and carbon under the assumptions it states.
"""

import csv
import json
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

from .config import ROOT, ComputeAssumptions
from .study import load_study, variants

RUNS, RESULTS = ROOT / "runs", ROOT / "results"


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
            usage = {key: provenance[key] for key in ("seconds", "cpu_cores_used", "gpus_used")}
            rows.append({"variant": variant, "seed": seed, **metrics, **usage})
    if not rows and not missing:
        raise IncompleteRunsError(f"no runs to aggregate in {runs_dir}: the tier lists no variants or seeds.")
    if missing:
        raise IncompleteRunsError(
            "these runs have no metrics.json (interrupted or never run): "
            + ", ".join(missing)
            + ". Run `uv run dvc repro` to run the study again."
        )
    return rows


def metric_names(rows: list[dict]) -> list[str]:
    return [
        key for key in rows[0] if key not in {"variant", "seed", "seconds", "cpu_cores_used", "gpus_used"}
    ]


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


def _significant(value: float) -> float:
    """Four significant figures: the estimates are no more precise, and tiny ones stay non-zero."""
    return float(f"{value:.4g}")


def compute_used(rows: list[dict], assumptions: ComputeAssumptions) -> dict:
    """Compute inside the runs, and what it cost in energy and carbon under stated assumptions."""
    cpu_hours = sum(row["seconds"] * row["cpu_cores_used"] for row in rows) / 3600
    gpu_hours = sum(row["seconds"] * row["gpus_used"] for row in rows) / 3600
    kwh = (cpu_hours * assumptions.watts_per_cpu_core + gpu_hours * assumptions.watts_per_gpu) / 1000
    return {
        "runs": len(rows),
        "run_seconds": round(sum(row["seconds"] for row in rows), 3),
        "cpu_hours": _significant(cpu_hours),
        "gpu_hours": _significant(gpu_hours),
        "energy_kwh": _significant(kwh),
        "co2e_kg": _significant(kwh * assumptions.grams_co2e_per_kwh / 1000),
        "assumptions": asdict(assumptions),
        "note": "Compute is measured inside the runs; energy and CO2e are estimates from the assumptions.",
    }


def write_results(
    rows: list[dict], names: list[str], results_dir: Path, assumptions: ComputeAssumptions
) -> None:
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
    compute = compute_used(rows, assumptions)
    (results_dir / "compute.json").write_text(json.dumps(compute, indent=2) + "\n")


def main() -> None:
    study = load_study()
    if len(sys.argv) != 2 or sys.argv[1] not in study.tiers:
        raise SystemExit(f"usage: python -m {__package__}.aggregate TIER, one of: {', '.join(study.tiers)}")
    tier = sys.argv[1]
    names = variants()
    try:
        rows = collect(RUNS / tier, names, study.tiers[tier].seeds)
    except IncompleteRunsError as error:
        raise SystemExit(f"error: {error}") from None
    write_results(rows, names, RESULTS / tier, study.compute)


if __name__ == "__main__":
    main()
