"""The packages a run can import, as uv.lock pins them: the environment part of a run's identity.

Those are the project's own dependencies (its optional ones too) and theirs, followed through
uv.lock (the lock of every platform, markers and all). The dependency groups are not: the
pipeline's DVC and Optuna, the trackers, Ray, pytest and the linters start, schedule, log or
check runs and never change what a run computes. So `uv add --group tracking mlflow`, or a
template update that pins another linter, leaves every run current, unless uv's one resolution
moves a version the dependencies share; any package the research code can reach, at another
version (or, from git or a URL, another commit), makes every run stale (runs/identity.py). A
package the research code imports that only a group installs is not seen: declare it in
`[project] dependencies`.
"""

import importlib
import json
import sys
from pathlib import Path

from study_machinery.core import provenance
from study_machinery.core.paths import LOCK, ROOT

# Python 3.10 has the same parser as a package, tomli (pyproject.toml installs it there).
tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")

# (name, version, where from: "" from a package index, else uv's record of the git commit or URL)
Pinned = tuple[str, str, str]


def runtime(lock: dict) -> list[Pinned]:
    """Every package the project's dependencies reach, the project aside."""
    packages: dict[str, list[dict]] = {}
    for package in lock.get("package", []):
        packages.setdefault(package["name"], []).append(package)
    project = the_project(lock)
    if project is None:
        return []
    todo = list(project.get("dependencies", []))
    todo += [dep for deps in project.get("optional-dependencies", {}).values() for dep in deps]
    reached: dict[tuple[str, str], Pinned] = {}
    followed: set[tuple[str, str, str]] = set()  # a package's extras, each followed once
    while todo:
        edge = todo.pop()
        for package in _targets(packages.get(edge["name"], []), edge):
            name, version = package["name"], str(package.get("version", ""))
            extras = package.get("optional-dependencies", {})
            for extra in edge.get("extra", []):
                if (name, version, extra) not in followed:
                    followed.add((name, version, extra))
                    todo += extras.get(extra, [])
            if (name, version) not in reached:
                reached[(name, version)] = (name, version, _origin(package))
                todo += package.get("dependencies", [])
    return sorted(reached.values())


def the_project(lock: dict) -> dict | None:
    """The study's own entry: the package installed from its folder (a path dependency has another)."""
    for package in lock.get("package", []):
        source = package.get("source", {})
        if "." in (source.get("editable"), source.get("virtual")):
            return package
    return None


def _targets(candidates: list[dict], edge: dict) -> list[dict]:
    """The locked packages an edge names: one, or (a fork by platform or Python) those of its version."""
    if "version" in edge:
        return [package for package in candidates if package.get("version") == edge["version"]]
    return candidates


def _origin(package: dict) -> str:
    """Where a package comes from, when its version alone does not say what it holds."""
    source = package.get("source", {})
    return "" if "registry" in source else json.dumps(source, sort_keys=True)


def read(root: Path = ROOT) -> dict | None:
    """uv.lock as data (None before the first lock)."""
    path = root / LOCK
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def runtime_sha256(root: Path = ROOT) -> str | None:
    """SHA-256 of the runtime's pinned packages (None before the first lock)."""
    lock = read(root)
    return None if lock is None else provenance.json_sha256(runtime(lock))
