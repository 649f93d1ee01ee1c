"""How long a researcher waits: from `copier copy` to a verified `nox -s reproduce`.

Prints, for a study generated with the default answers:
- copy: `copier copy --trust` including its first run (lock, pipeline, commit);
- first reproduce: `nox -s reproduce` right after, creating its environment;
- copy to verified: the sum of the two, the figure a newcomer sees;
- ready reproduce: `nox -R -s reproduce` again with the environment ready, and
  its overhead: that wall time divided by the compute time spent inside the runs;
- the same for the smoke tier (`nox -R -s reproduce -- smoke`).

Then where the overhead goes, inside that study: importing scikit-learn with
and without cached bytecode, composing one run's config with Hydra, the
report stage (tables and figure), and `dvc status` on the pipeline.

For a PyTorch study (--framework pytorch) it times importing torch instead of scikit-learn,
and measures the clean room's environment: its size, and the share of it that is hard links
into uv's cache rather than a second copy.

A warm-up copy first fills uv's cache, so that downloads are not timed.
Usage: python benchmarks/copy_to_reproduce.py [--no-warm-up] [--framework sklearn|pytorch]
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import clean_env, copy_study, timed

COMPOSE = """
import time
from hydra import compose, initialize_config_dir
from study_machinery import contract, paths
from study_machinery.study import variants
contract.register_configs()
names = variants()
with initialize_config_dir(config_dir=str(paths.CONF_DIR), version_base="1.3"):
    compose(config_name="config")
    started = time.perf_counter()
    for name in names:
        compose(config_name="config", overrides=[f"variant={name}"])
print((time.perf_counter() - started) / len(names))
"""


IMPORTS = {
    "sklearn": "import sklearn.neural_network, sklearn.linear_model, sklearn.neighbors, sklearn.metrics",
    "pytorch": "import torch, sklearn.metrics, sklearn.preprocessing",
}


def clean_room_environment(study: Path, nox: list[str]) -> dict[str, float]:
    """Size of the clean room's environment, and how much of it is hard links to uv's cache."""
    kept = subprocess.run(
        [*nox, "-R", "-s", "reproduce", "--", "smoke", "--keep"],
        cwd=study,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    clone = Path(re.search(r" in (\S+) \.\.\.$", kept.stdout, re.MULTILINE).group(1))
    try:
        files = [path for path in (clone / ".venv").rglob("*") if path.is_file() and not path.is_symlink()]
        sizes = [(path.stat().st_size, path.stat().st_nlink > 1) for path in files]
    finally:
        shutil.rmtree(clone.parent, ignore_errors=True)
    total = sum(size for size, _ in sizes)
    return {"gb": total / 1e9, "linked": sum(size for size, linked in sizes if linked) / total}


def overheads(study: Path, workdir: Path, framework: str) -> dict[str, float]:
    """Seconds for the fixed costs that grouping runs into few processes avoids repeating."""
    python = ["uv", "run", "--frozen", "--no-sync", "python", "-c"]
    bare = timed([*python, "pass"], study)
    imports = IMPORTS[framework]
    # Bytecode read from an empty cache and never written: every module compiled, as with
    # PYTHONDONTWRITEBYTECODE=1; then from a cache the first of two imports filled.
    empty, cache = workdir / "pycache-empty", workdir / "pycache"
    uncached = timed([*python, imports], study, PYTHONDONTWRITEBYTECODE="1", PYTHONPYCACHEPREFIX=str(empty))
    # An empty PYTHONDONTWRITEBYTECODE lets Python write bytecode whatever this shell says.
    timed([*python, imports], study, PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(cache))
    cached = timed([*python, imports], study, PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(cache))
    composed = subprocess.run(
        [*python, COMPOSE],
        cwd=study,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    report = timed(["uv", "run", "--frozen", "--no-sync", "python", "-m", "study_machinery", "report"], study)
    status = timed(["uv", "run", "--frozen", "--no-sync", "dvc", "status"], study)
    return {
        "import_uncached": uncached - bare,
        "import_cached": cached - bare,
        "compose": float(composed.stdout.split()[-1]),
        "report": report,
        "dvc_status": status,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-warm-up", action="store_true", help="time a cold uv cache too")
    parser.add_argument("--framework", choices=sorted(IMPORTS), default="sklearn", help="the study's")
    args = parser.parse_args()
    nox = [sys.executable, "-m", "nox", "--no-color"]
    library = {"sklearn": "scikit-learn", "pytorch": "torch"}[args.framework]

    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        workdir = Path(tmp)
        if not args.no_warm_up:
            copy_study(workdir, "warm-up", framework=args.framework)
        study, copy_seconds = copy_study(workdir, "study", framework=args.framework)
        first_seconds = timed([*nox, "-s", "reproduce"], study)
        report = workdir / "report.json"
        ready_seconds = timed([*nox, "-R", "-s", "reproduce", "--", f"--report={report}"], study)
        timing = json.loads(report.read_text())["timing"]
        smoke_seconds = timed([*nox, "-R", "-s", "reproduce", "--", "smoke", f"--report={report}"], study)
        smoke = json.loads(report.read_text())["timing"]
        fixed = overheads(study, workdir, args.framework)
        environment = clean_room_environment(study, nox) if args.framework == "pytorch" else None

    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"study: {args.framework}")
    print(f"copy (with its first run):         {copy_seconds:6.1f} s")
    print(f"first nox -s reproduce:            {first_seconds:6.1f} s")
    print(f"copy to verified reproduce:        {copy_seconds + first_seconds:6.1f} s")
    print(f"nox -R -s reproduce, env ready:    {ready_seconds:6.1f} s")
    print(f"compute inside its {timing['runs']} runs:       {timing['run_seconds']:6.1f} s")
    print(f"overhead (wall / compute):         {ready_seconds / timing['run_seconds']:6.2f}")
    print(f"nox -R -s reproduce -- smoke:      {smoke_seconds:6.1f} s")
    print(f"compute inside its {smoke['runs']} runs:       {smoke['run_seconds']:6.1f} s")
    print(f"overhead (wall / compute):         {smoke_seconds / smoke['run_seconds']:6.1f}")
    print(f"import {library}, compiling:{' ' * (13 - len(library))}{fixed['import_uncached']:6.2f} s")
    print(f"import {library}, bytecode:{' ' * (14 - len(library))}{fixed['import_cached']:6.2f} s")
    print(f"compose one run's config (Hydra):  {fixed['compose']:6.3f} s")
    print(f"report stage (tables, figure):     {fixed['report']:6.2f} s")
    print(f"dvc status, 4-stage pipeline:      {fixed['dvc_status']:6.2f} s")
    if environment:
        print(f"clean room's environment:          {environment['gb']:6.2f} GB")
        print(f"  of which hard links to uv's cache: {environment['linked']:6.1%}")


if __name__ == "__main__":
    main()
