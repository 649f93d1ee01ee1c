"""Learning curves as a table: each variant's per-epoch scores over the seeds.

The aggregate stage writes results/<tier>/curves.csv from the runs' own epochs.json
(core/epochs.py), whatever trackers the study uses: per variant, score and epoch, the mean over
the seeds with the 95% confidence interval of that mean (Student's t, as everywhere in the
study) and n. The report stage draws it (report/curves.py).
"""

import csv
from pathlib import Path

from study_machinery.core import epochs, paths

COLUMNS = ("variant", "score", "epoch", "mean", "ci_low", "ci_high", "std", "n")


def summarise(
    runs_dir: Path, names: list[str], seeds: list[int], left_out: frozenset[tuple[str, int]] = frozenset()
) -> list[dict]:
    """One row per variant, score and epoch that at least two seeds reported as a number (a spread
    needs two; a diverged seed's null is left out, and n says how many remain)."""
    # Imported here: scipy.stats takes a second to import, and the README and the report,
    # which read curves.csv through recorded.py, never need it.
    from study_machinery.results.estimates import describe

    rows = []
    for variant in names:
        runs = [
            {record["epoch"]: record for record in epochs.read(path)}
            for seed in seeds
            if (variant, seed) not in left_out
            and (path := paths.run_dir(runs_dir, variant, seed) / paths.EPOCHS).is_file()
        ]
        scores = list(dict.fromkeys(name for run in runs for record in run.values() for name in record))
        for score in (name for name in scores if name != "epoch"):
            for epoch in sorted({epoch for run in runs for epoch in run}):
                values = [run[epoch][score] for run in runs if run.get(epoch, {}).get(score) is not None]
                if len(values) >= 2:
                    stats = describe(values)
                    rows.append({"variant": variant, "score": score, "epoch": epoch, **stats})
    return rows


def write_table(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_table(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    numbers = {"epoch": int, "n": int, "mean": float, "ci_low": float, "ci_high": float, "std": float}
    return [{**row, **{key: kind(row[key]) for key, kind in numbers.items()}} for row in rows]
