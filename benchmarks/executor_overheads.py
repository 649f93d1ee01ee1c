"""Executor overheads: the main tier on this machine's cores, on a single-node SLURM and on Ray.

Generates a study with the default answers, then runs its main tier (every variant over its
seeds) with `--rerun-all` on each executor in turn, on the same machine: `cores` (a worker
per core), `slurm` (a job array on a single-node SLURM cluster started here; needs root and
Debian's slurm-wlm and munge) and `ray` (a Ray cluster started on loopback by `ray start`).
For each it prints:

- wall: the tier command from start to end;
- to first run: from the command's start to the first run's start (its started.json);
- overhead per run: the slot-time not spent inside runs, (wall x slots - sum of the runs'
  own seconds) / runs, where slots is the number of runs that can execute at once (the cores);
  it holds each run's process start, imports and planning, and the engine's scheduling.

and whether every run's metrics are the same bits on all of them.

Usage: sudo python benchmarks/executor_overheads.py
"""

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import copy_study, timed
from slurm_cluster import free_port, slurm_cluster, why_not

TIER = "small"


def started_times(runs: Path) -> list[float]:
    return [path.stat().st_mtime for path in runs.rglob("started.json")]


def measure(study: Path, label: str, settings: list[str], **env: str) -> dict:
    runs = study / "runs" / TIER
    machinery = ["uv", "run", "--frozen", "python", "-m", "study_machinery"]
    command = [*machinery, "tier", TIER, *settings, "--rerun-all"]
    began = time.time()
    wall = timed(command, study, PYTHONHASHSEED="0", **env)
    records = [json.loads(path.read_text()) for path in runs.rglob("run.json")]
    slots = os.cpu_count()
    inside = sum(record["seconds"] for record in records)
    return {
        "label": label,
        "wall": wall,
        "first": min(started_times(runs)) - began,
        "overhead": (wall * slots - inside) / len(records),
        "runs": len(records),
        "metrics": {path.relative_to(runs): path.read_bytes() for path in runs.rglob("metrics.json")},
    }


def main() -> None:
    reason = why_not()
    if reason is not None:
        print(f"executor overheads: skipped, no SLURM cluster can start here: {reason}")
        raise SystemExit(3)
    results = []
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        workdir = Path(tmp)
        study, _ = copy_study(workdir, "study")
        results.append(measure(study, "cores (this machine)", ["executor=cores"]))
        timed(["uv", "sync", "--frozen", "--inexact", "--group=ray"], study)
        port = free_port()
        ray_tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # socket paths are short
        head = [".venv/bin/ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}"]
        head += [f"--num-cpus={os.cpu_count()}", "--include-dashboard=false", "--disable-usage-stats"]
        timed([*head, f"--temp-dir={ray_tmp}"], study)
        try:
            ray = ["executor=ray", f"executor.address=127.0.0.1:{port}"]
            results.append(measure(study, "ray (ray start, loopback)", ray))
        finally:
            with contextlib.suppress(SystemExit):
                timed([".venv/bin/ray", "stop", "--force"], study)
            shutil.rmtree(ray_tmp, ignore_errors=True)
        # SLURM last: its runs then hold submissions that only a reachable SLURM can vouch for.
        with slurm_cluster(workdir / "slurm") as env:
            slurm = ["executor=slurm", "executor.poll_seconds=1"]
            results.append(measure(study, "slurm (single node)", slurm, **env))

    print(f"machine: {os.cpu_count()} cores; tier {TIER}: {results[0]['runs']} runs, --rerun-all, same study")
    print(f"{'executor':<28}{'wall':>8}{'to first run':>15}{'overhead per run':>19}")
    for result in results:
        print(
            f"{result['label']:<28}{result['wall']:>7.1f}s{result['first']:>14.1f}s{result['overhead']:>18.2f}s"
        )
    same = all(result["metrics"] == results[0]["metrics"] for result in results)
    print(f"metrics identical bit for bit on all three: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
