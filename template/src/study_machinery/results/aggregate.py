"""Aggregate one tier's runs into its recorded result: `python -m study_machinery aggregate TIER`.

Reads runs/TIER/ and writes to results/TIER/, for git rather than the DVC
cache because these files are small and are what a reader looks at:
- runs.csv: one row per (variant, seed) with every metric;
- metrics.json: per variant and metric, the mean, the sample standard
  deviation (ddof=1), the standard error, the 95% confidence interval of the
  mean and n, the number of seeds (see estimates.py);
- comparisons.json: per baseline or ablation and metric, its difference from
  the proposed method with a 95% confidence interval and a p-value, paired by
  seed (the tables show this one) and unpaired (Welch); each p-value also
  adjusted by Holm's method over all the tier's comparisons of its kind (p_holm);
- curves.csv: per variant, per-epoch score and epoch, the mean over the seeds with its 95%
  confidence interval: the learning curves, from each run's epochs.json (curves.py);
- compute.json: the compute spent inside the runs, in CPU and GPU hours summed
  over the machines they ran on, and an estimate of its energy and carbon under the assumptions it states.
"""

import csv
import json
import math
from dataclasses import asdict
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.study import (
    METHOD,
    ComputeAssumptions,
    StudyConfig,
    check_reported,
    load_study,
    variants,
)
from study_machinery.results import curves
from study_machinery.results.estimates import describe, difference, holm, paired_difference


class IncompleteRunsError(StudyError):
    """Raised when the runs cannot make a result: one left no metrics, or the method is missing."""


def collect(
    runs_dir: Path, names: list[str], seeds: list[int], left_out: frozenset[tuple[str, int]] = frozenset()
) -> list[dict]:
    """Every run's metrics, in study order, but the (variant, seed) pairs left out by a recorded
    decision; fails on any other run that did not finish."""
    rows: list[dict] = []
    missing: list[str] = []
    for variant in names:
        for seed in (seed for seed in seeds if (variant, seed) not in left_out):
            run_dir = paths.run_dir(runs_dir, variant, seed)
            if not (run_dir / paths.RUN_METRICS).is_file():
                missing.append(str(run_dir))
                continue
            metrics = json.loads((run_dir / paths.RUN_METRICS).read_text())
            if rows and set(metrics) != set(metric_names(rows)):
                raise IncompleteRunsError(
                    f"{run_dir / paths.RUN_METRICS} has metrics {sorted(metrics)}, "
                    f"other runs {sorted(metric_names(rows))}: every run must report the same ones."
                )
            not_finite = [name for name, value in metrics.items() if not math.isfinite(value)]
            if not_finite:
                raise IncompleteRunsError(
                    f"{run_dir / paths.RUN_METRICS}: not a number: {', '.join(not_finite)}."
                )
            provenance = json.loads((run_dir / paths.RUN_RECORD).read_text())
            usage = {key: provenance[key] for key in USAGE[:3]}
            usage["host"] = provenance["where"]["host"]
            rows.append({"variant": variant, "seed": seed, **metrics, **usage})
    if not rows and not missing:
        raise IncompleteRunsError(f"no runs to aggregate in {runs_dir}: the tier lists no variants or seeds.")
    if missing:
        raise IncompleteRunsError(
            "these runs have no metrics.json (interrupted, failed or never run): "
            + ", ".join(missing)
            + ". Run `uv run dvc repro` to run the study again; a run that cannot finish is left "
            "out only by a decision recorded under `excluded` in conf/study.yaml (docs/results.md)."
        )
    return rows


# What a row holds beside its variant, seed and metrics: what the run used, and where.
USAGE = ("seconds", "cpu_cores_used", "gpus_used", "host")


def metric_names(rows: list[dict]) -> list[str]:
    return [key for key in rows[0] if key not in {"variant", "seed", *USAGE}]


def summarise(
    rows: list[dict], names: list[str], metrics: list[str] | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant and metric (the study's order, the main metric first): mean, std, se, 95% CI, n."""
    return {
        variant: {metric: describe(scores(rows, variant, metric)) for metric in metrics or metric_names(rows)}
        for variant in names
    }


def compare_with_method(
    rows: list[dict], names: list[str], study: StudyConfig
) -> dict[str, dict[str, dict[str, dict]]]:
    """Per other variant and metric: its difference from the proposed method, paired by seed and Welch's.

    Holm's adjustment runs per test over two families: the main metric's comparisons, which the
    study's claims are about, and the secondary metrics' comparisons. One family over every
    metric would make each secondary metric added weaken the main claims.
    """
    if METHOD not in names:
        raise IncompleteRunsError(
            f"no variant named {METHOD!r} (conf/variant/{METHOD}.yaml) to compare with."
        )
    comparisons = {
        variant: {
            metric: {
                "paired": paired_difference(*paired(rows, variant, metric)),
                "welch": difference(scores(rows, METHOD, metric), scores(rows, variant, metric)),
            }
            for metric in study.ordered_metrics()
        }
        for variant in names
        if variant != METHOD
    }
    for by_metric in comparisons.values():
        for metric, by_test in by_metric.items():
            for entry in by_test.values():
                entry["verdict"] = study.metrics[metric].verdict(entry["ci_low"], entry["ci_high"])
                entry["family"] = family_of(metric, study)
    for test in ("paired", "welch"):
        for family in ("main", "secondary"):
            members = [
                by_test[test]
                for by_metric in comparisons.values()
                for metric, by_test in by_metric.items()
                if family_of(metric, study) == family
            ]
            for entry, adjusted in zip(members, holm([entry["p_value"] for entry in members]), strict=True):
                entry["p_holm"] = adjusted
    return comparisons


def family_of(metric: str, study: StudyConfig) -> str:
    return "main" if metric == study.main_metric else "secondary"


def scores(rows: list[dict], variant: str, metric: str) -> list[float]:
    return [row[metric] for row in rows if row["variant"] == variant]


def by_seed(rows: list[dict], variant: str, metric: str) -> dict[int, float]:
    return {row["seed"]: row[metric] for row in rows if row["variant"] == variant}


def paired(rows: list[dict], variant: str, metric: str) -> tuple[dict[int, float], dict[int, float]]:
    """The method's and the variant's scores on the seeds both kept (all of them, unless some
    run was left out): a pair is one seed's two runs."""
    method, other = by_seed(rows, METHOD, metric), by_seed(rows, variant, metric)
    shared = [seed for seed in method if seed in other]
    return {seed: method[seed] for seed in shared}, {seed: other[seed] for seed in shared}


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
        # Summed across every machine the runs used (a cluster's nodes); their names stay in run.json.
        "hosts": len({row["host"] for row in rows}),
        "run_seconds": round(sum(row["seconds"] for row in rows), 3),
        "cpu_hours": _significant(cpu_hours),
        "gpu_hours": _significant(gpu_hours),
        "energy_kwh": _significant(kwh),
        "co2e_kg": _significant(kwh * assumptions.grams_co2e_per_kwh / 1000),
        "assumptions": asdict(assumptions),
        "note": "Compute is measured inside the runs; energy and CO2e are estimates from the assumptions.",
    }


def write_results(
    rows: list[dict],
    names: list[str],
    results_dir: Path,
    study: StudyConfig,
    learning: list[dict] | None = None,
) -> None:
    # Everything is computed before anything is written: a failure leaves no half-written result.
    summaries = {
        paths.SUMMARY: summarise(rows, names, study.ordered_metrics()),
        paths.COMPARISONS: compare_with_method(rows, names, study),
        paths.COMPUTE: compute_used(rows, study.compute),
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    with (results_dir / paths.RUNS_TABLE).open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle,
            fieldnames=["variant", "seed", *metric_names(rows)],
            extrasaction="ignore",
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(rows)
    for name, content in summaries.items():
        (results_dir / name).write_text(json.dumps(content, indent=2) + "\n")
    curves.write_table(learning or [], results_dir / paths.CURVES_TABLE)


def aggregate_tier(tier: str) -> None:
    """runs/TIER/ into results/TIER/, for every variant and seed the study lists."""
    study = load_study()
    names = variants()
    seeds = study.tiers[tier].seeds
    left_out = frozenset((exclusion.variant, exclusion.seed) for exclusion in study.left_out(tier))
    rows = collect(paths.runs_dir(tier), names, seeds, left_out)
    # collect() checked that every run reports the same metrics: the first run speaks for all.
    first = paths.run_dir(paths.runs_dir(tier), rows[0]["variant"], rows[0]["seed"]) / paths.RUN_METRICS
    check_reported(study, metric_names(rows), paths.shown(first))
    learning = curves.summarise(paths.runs_dir(tier), names, seeds, left_out)
    write_results(rows, names, paths.results_dir(tier), study, learning)
