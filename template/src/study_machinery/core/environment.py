"""The environment every process that runs research code gets, in one place.

Some settings take effect only when set before Python (or CUDA) starts, so they cannot be set
from inside a run. `python -m study_machinery` therefore starts itself again with them when
they are not set (rerun_with_it, called first of all by __main__.py); the executors give them
to every worker, SLURM job and Ray task (run_environment); the noxfile and the copy task read
them from this file, with the dependency groups a run needs. This module imports nothing but
the standard library, so that they can.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

RUN_ENVIRONMENT = {
    # str hashes, and so the order of sets, the same in every process: Python reads it at start.
    "PYTHONHASHSEED": "0",
    # cuBLAS's matrix products deterministic on a GPU (read when CUDA starts; unused without one).
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    # No usage reports from DVC: a study's commands contact no one unasked.
    "DVC_NO_ANALYTICS": "1",
}


def dependency_groups(root: Path) -> list[str]:
    """The dependency groups a tier's runs need: the pipeline's, and the trackers' packages
    (the `tracking` group of pyproject.toml) when the study has chosen any."""
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    return ["pipeline", *(["tracking"] if re.search(r"(?m)^tracking\s*=", pyproject) else [])]


def run_environment() -> dict[str, str]:
    """The settings every process that runs research code is started with."""
    return dict(RUN_ENVIRONMENT)


def rerun_with_it() -> None:
    """Start this command again with the run environment, unless it already has it."""
    if all(os.environ.get(name) == value for name, value in RUN_ENVIRONMENT.items()):
        return
    environment = {**os.environ, **RUN_ENVIRONMENT}
    command = [sys.executable, *sys.orig_argv[1:]]
    if os.name == "posix":
        os.execve(sys.executable, command, environment)  # the same process: signals reach it
    sys.exit(subprocess.call(command, env=environment))  # Windows has no exec that keeps the process
