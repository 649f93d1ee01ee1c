"""A run's identity: a key made of everything that can change its result.

Two runs with the same key are the same run, so a finished run whose key still matches is kept
as it is, and only runs that are missing or whose key changed execute (tiers/tier.py). The key joins
four parts, each a hash, so that a stale run can say which of them changed:

- config: the run's fully resolved config (variant, scale, seed and every value they set);
- code: the research code, src/<package>/: each file's path, and each Python file's syntax
  tree, so formatting and comments do not count (below); the machinery is not part of it: it
  only starts and records a run, so a template update that changes it does not re-run anything;
- data: the MD5s DVC recorded for the data under data/ (dvc.lock, data/*.dvc);
- environment: the packages a run can import, as uv.lock pins them (core/locked.py), so an
  upgraded one re-runs everything, and a new tracker or linter re-runs nothing.

The code part hashes a Python file's syntax tree, not its text, so that `ruff format` or a new
comment does not make every run stale. Everything the tree keeps counts, docstrings too: a
program can read its docstrings (an argparse description), and when unsure, a run is stale.
A Python file that does not parse counts by its bytes (its run fails, and says why), and so
does every other file (a table, a YAML file). A renamed module is a change: paths count. The
tree's form can differ from one Python version to the next, so a study that moves to another
Python may find every run stale (code) once.
"""

import ast
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from study_machinery import contract
from study_machinery.core import locked, paths, provenance

PARTS = ("config", "code", "data", "environment")


def file_hash(path: Path) -> bytes:
    """SHA-256 of a Python file's syntax tree (no positions), or of the bytes of a file that is not one."""
    data = path.read_bytes()
    if path.suffix == ".py":
        try:
            tree = ast.parse(data, filename=str(path))
        except (SyntaxError, ValueError):  # ValueError: a null byte, on Python 3.10
            return hashlib.sha256(b"bytes\0" + data).digest()
        return hashlib.sha256(b"ast\0" + ast.dump(tree, include_attributes=False).encode()).digest()
    return hashlib.sha256(data).digest()


def code_hash(package: Path) -> str:
    """SHA-256 over the research package's files, by path and content (bytecode caches aside)."""
    digest = hashlib.sha256()
    files = (path for path in package.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
    for path in sorted(files):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(file_hash(path))
    return digest.hexdigest()


@dataclass(frozen=True)
class Identity:
    config: str
    code: str
    data: str
    environment: str | None

    @property
    def key(self) -> str:
        return provenance.json_sha256(asdict(self))

    def record(self) -> dict[str, str]:
        """What run.json keeps: the key and its parts."""
        return {"key": self.key, **asdict(self)}

    def changed(self, recorded: dict) -> list[str]:
        """The parts that differ from a recorded identity (all of them when none was recorded)."""
        return [part for part in PARTS if recorded.get(part) != getattr(self, part)]


@dataclass(frozen=True)
class Shared:
    """The parts that every run of a study shares at a given moment, gathered once."""

    code: str
    data: str
    environment: str | None

    def of(self, resolved_config: dict) -> Identity:
        return Identity(provenance.json_sha256(resolved_config), self.code, self.data, self.environment)


def shared(root: Path = paths.ROOT) -> Shared:
    return Shared(
        code=code_hash(root / "src" / contract.PACKAGE),
        data=provenance.json_sha256(provenance.data_hashes(root)),
        environment=locked.runtime_sha256(root),
    )
