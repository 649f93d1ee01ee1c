"""The packages a run can import, as uv.lock pins them: the environment part of a run's identity.

Those are the project's own dependencies and theirs, followed through uv.lock (the lock of every
platform, markers and all). The dependency groups are not: the pipeline's DVC and Optuna, the
trackers, Ray, pytest and the linters start, schedule, log or check runs and never change what
a run computes. So `uv add --group tracking mlflow`, or a template update that pins another
linter, leaves every run current, while any package the research code can reach, moved to
another version, makes every run stale (runs/identity.py).
"""

import importlib
import sys
from pathlib import Path

from study_machinery.core import provenance
from study_machinery.core.paths import LOCK, ROOT

# Python 3.10 has the same parser as a package, tomli (pyproject.toml installs it there).
tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

Pinned = tuple[str, str]  # (name, version)


def runtime(lock: dict) -> list[Pinned]:
    """Name and version of every package the project's dependencies reach, the project aside."""
    packages: dict[str, list[dict]] = {}
    for package in lock.get("package", []):
        packages.setdefault(package["name"], []).append(package)
    project = next(
        (p for p in lock.get("package", []) if {"editable", "virtual"} & set(p.get("source", {}))), None
    )
    if project is None:
        return []
    reached: set[Pinned] = set()
    todo = list(project.get("dependencies", []))
    while todo:
        edge = todo.pop()
        for package in _targets(packages.get(edge["name"], []), edge):
            pinned = (package["name"], str(package.get("version", "")))
            extras = package.get("optional-dependencies", {})
            todo += [dep for extra in edge.get("extra", []) for dep in extras.get(extra, [])]
            if pinned not in reached:
                reached.add(pinned)
                todo += package.get("dependencies", [])
    return sorted(reached)


def _targets(candidates: list[dict], edge: dict) -> list[dict]:
    """The locked packages an edge names: one, or (a fork by platform or Python) those of its version."""
    if "version" in edge:
        return [package for package in candidates if package.get("version") == edge["version"]]
    return candidates


def read(root: Path = ROOT) -> dict | None:
    """uv.lock as data (None before the first lock)."""
    path = root / LOCK
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def runtime_sha256(root: Path = ROOT) -> str | None:
    """SHA-256 of the runtime's pinned packages (None before the first lock)."""
    lock = read(root)
    return None if lock is None else provenance.json_sha256(runtime(lock))
