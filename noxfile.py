"""The template's own sessions: `nox` lints and tests; `nox -s benchmark` prints timings."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "tasks"))
from environment import OUTER_ENVIRONMENT

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]


def sync(session: nox.Session, group: str) -> None:
    session.run_install(
        "uv",
        "sync",
        "--no-default-groups",
        f"--group={group}",
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the template's tooling (the generated studies are linted by the tests)."""
    sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def pyenv_pythons(session: nox.Session) -> dict[str, str]:
    """Let uv and nox find every Python 3.10-3.13 that pyenv has installed.

    The studies are generated for each of those versions, and their tools look
    for `python3.X` on PATH, where pyenv's shims answer only for the versions
    pyenv has activated. So activate them all, and put their folders on PATH too.
    """
    if shutil.which("pyenv") is None:
        return {}
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    installed = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True, check=True)
    wanted = [v for v in installed.stdout.split() if v.startswith(("3.10.", "3.11.", "3.12.", "3.13."))]
    if not wanted:
        return {}
    folders = [os.path.join(root, "versions", version, "bin") for version in wanted]
    return {
        "PYENV_VERSION": ":".join(wanted),
        "PATH": os.pathsep.join([session.bin, os.environ["PATH"], *folders]),
    }


def workers() -> int:
    """pytest-xdist workers: one per core.

    Measured on 2 cores (docs/benchmarks.md): 3 workers took 11.9 min where 2 took 10.6 min;
    the studies' pipelines keep both cores busy.
    """
    return os.cpu_count() or 1


def studies_own_environment() -> dict[str, None]:
    """Unset what nox points at this session's environment: the studies' uv must use their own.

    Unset here, not in a fixture: copier runs its tasks in a copy of the environment that
    plumbum takes when copier is imported, before any fixture runs.
    """
    return dict.fromkeys(OUTER_ENVIRONMENT)


def with_bytecode() -> dict[str, None]:
    """Let the studies' Python processes cache their bytecode, whatever the calling shell says.

    A study starts dozens of processes that import scikit-learn: 1.0 s each with cached
    bytecode, 2.9 s with PYTHONDONTWRITEBYTECODE set (docs/benchmarks.md). The copy task and
    `nox -s reproduce` drop it for the same reason.
    """
    return {"PYTHONDONTWRITEBYTECODE": None}


@nox.session
def tests(session: nox.Session) -> None:
    """Generate studies over the question axes of copier.yml and run their own sessions."""
    sync(session, "test")
    env = {"DVC_NO_ANALYTICS": "1", "UV_PYTHON_DOWNLOADS": "never", **pyenv_pythons(session)}
    env |= studies_own_environment() | with_bytecode()
    session.run("pytest", f"--numprocesses={workers()}", *session.posargs, env=env)


@nox.session
def benchmark(session: nox.Session) -> None:
    """Copy to a verified reproduce, reproduce's overhead, parallel runs, what each edit runs, the
    executors' overheads (SLURM and Ray: as root with slurm-wlm and munge, else skipped), the
    trackers' overheads and a search's cost."""
    sync(session, "test")
    env = {"DVC_NO_ANALYTICS": "1", "UV_PYTHON_DOWNLOADS": "never", **pyenv_pythons(session)}
    env |= studies_own_environment()
    session.run("python", "benchmarks/copy_to_reproduce.py", *session.posargs, env=env)
    session.run("python", "benchmarks/parallel_runs.py", env=env)
    session.run("python", "benchmarks/incremental_runs.py", env=env)
    session.run("python", "benchmarks/executor_overheads.py", env=env, success_codes=[0, 3])
    session.run("python", "benchmarks/tracking_overheads.py", env=env)
    session.run("python", "benchmarks/search_cost.py", env=env)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into build/site, strictly: a broken link, a missing anchor or
    a page left out of the navigation fails (mkdocs.yml). `nox -s docs -- serve` serves it."""
    sync(session, "docs")
    # Without the notice mkdocs-material prints on every run: its end of life (May 2027) and its
    # successor are recorded in mkdocs.yml, where the choice is explained.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:], env=env)
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env=env)


@nox.session
def reserved_names(session: nox.Session) -> None:
    """Rewrite tasks/reserved_import_names.yml from studies with every tracker: `-- SKLEARN PYTORCH`."""
    env = {"UV_PYTHON_DOWNLOADS": "never", **pyenv_pythons(session)} | studies_own_environment()
    session.run("python", "tasks/reserved_import_names.py", *session.posargs, env=env)
