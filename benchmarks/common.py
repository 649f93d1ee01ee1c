"""What the benchmark scripts share: a clean environment, a timed command, a generated study."""

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tasks"))
from environment import without_outer  # noqa: E402


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the virtual environment the benchmark itself runs in."""
    return without_outer(dict(os.environ)) | extra


def timed(command: list[str], cwd: Path, **extra_env: str) -> float:
    """Seconds the command took; stops the benchmark with its output if it fails."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=clean_env(**extra_env), capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def copy_study(workdir: Path, name: str, **answers: str) -> tuple[Path, float]:
    """A study with the default answers but those given, generated from this working tree, and how
    long that took."""
    study = workdir / name
    command = ["copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref=HEAD"]
    answers = {"dvc_remote": str(workdir / "remote"), **answers}
    command += [f"--data={key}={value}" for key, value in answers.items()]
    command += [str(REPO), str(study)]
    return study, timed(command, workdir)
