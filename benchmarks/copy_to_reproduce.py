"""How long a researcher waits: from `copier copy` to a verified `nox -s reproduce`.

Prints, for a study generated with the default answers:
- copy: `copier copy --trust` including its first run (lock, pipeline, commit);
- first reproduce: `nox -s reproduce` right after, creating its environment;
- copy to verified: the sum of the two, the figure a newcomer sees;
- ready reproduce: `nox -R -s reproduce` again with the environment ready, and
  its overhead: that wall time divided by the compute time spent inside the runs.

A warm-up copy first fills uv's cache, so that downloads are not timed.
Usage: python benchmarks/copy_to_reproduce.py [--no-warm-up]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def copy(workdir: Path, name: str) -> tuple[Path, float]:
    study = workdir / name
    command = ["copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref=HEAD"]
    command += [f"--data=dvc_remote={workdir / 'remote'}", str(REPO), str(study)]
    return study, timed(command, workdir)


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
    args = parser.parse_args()
    nox = [sys.executable, "-m", "nox", "--no-color"]

    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        workdir = Path(tmp)
        if not args.no_warm_up:
            copy(workdir, "warm-up")
        study, copy_seconds = copy(workdir, "study")
        first_seconds = timed([*nox, "-s", "reproduce"], study)
        report = workdir / "report.json"
        ready_seconds = timed([*nox, "-R", "-s", "reproduce", "--", f"--report={report}"], study)
        timing = json.loads(report.read_text())["timing"]

    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"copy (with its first run):         {copy_seconds:6.1f} s")
    print(f"first nox -s reproduce:            {first_seconds:6.1f} s")
    print(f"copy to verified reproduce:        {copy_seconds + first_seconds:6.1f} s")
    print(f"nox -R -s reproduce, env ready:    {ready_seconds:6.1f} s")
    print(f"compute inside its {timing['runs']} runs:       {timing['run_seconds']:6.1f} s")
    print(f"overhead (wall / compute):         {ready_seconds / timing['run_seconds']:6.2f}")


if __name__ == "__main__":
    main()
