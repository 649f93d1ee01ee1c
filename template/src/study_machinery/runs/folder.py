"""A run's folder: its records written whole or not at all, prepared for an attempt (resumed
where an interrupted one of the same identity left off), and swapped in once it has finished.

A run executes in an attempt folder beside its own (paths.attempt_dir); only a finished attempt
replaces the run's folder, so a recorded result is never emptied by a run that fails.
"""

import json
import os
import shutil
import time
from pathlib import Path

from study_machinery.core import paths
from study_machinery.runs import identity
from study_machinery.runs.plan import folder_state


def json_text(content: dict) -> str:
    """How run.json and metrics.json are written (and metrics.json hashed)."""
    return json.dumps(content, indent=2) + "\n"


def write_json(path: Path, content: dict) -> None:
    """Write whole or not at all, even through a power loss.

    A run killed mid-write leaves a .partial file, never half a result under the real name.
    """
    text = json_text(content)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        folder = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def prepare_folder(
    folder: Path, key: identity.Identity, keep: frozenset[str] = frozenset(), fresh: bool = False
) -> None:
    """An empty folder for a run (but for the entries named in `keep`); or, for a run that was
    interrupted with the same identity, the folder as it left it: its checkpoints, and its log,
    which the new attempt goes on. A finished run, one of another identity, or any run when
    `fresh` (`--rerun-all`), starts afresh."""
    started = folder / paths.RUN_STARTED
    expected = json_text(key.record())
    interrupted = folder.is_dir() and not (folder / paths.RUN_METRICS).exists()
    if not fresh and interrupted and started.is_file() and started.read_text(encoding="utf-8") == expected:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    write_json(started, key.record())


def prepare_attempt(
    folder: Path, key: identity.Identity, keep: frozenset[str] = frozenset(), fresh: bool = False
) -> Path | None:
    """The folder a tier's run executes in, beside its own (paths.attempt_dir), prepared as
    prepare_folder prepares one: an interrupted attempt with this identity is resumed. The run's
    own folder, and whatever result it holds, stays as it is until `swap_in`.

    None when nothing is left to run: an attempt of this identity that finished but was stopped
    before it replaced the run's folder takes its place now (unless `fresh`: --rerun-all asks
    for runs made by this command).
    """
    completed = recover(folder)
    attempt = paths.attempt_dir(folder)
    if not fresh and (completed or folder_state(attempt, key)[0] == "done"):
        if not completed:
            swap_in(attempt, folder)
        return None
    prepare_folder(attempt, key, keep, fresh)
    return attempt


def swap_in(attempt: Path, folder: Path) -> None:
    """A finished attempt becomes the run's folder; the folder it replaces is deleted after."""
    replaced = paths.replaced_dir(folder)
    if replaced.exists():
        _discard(replaced)  # what a swap interrupted after its two renames left
    if folder.exists():
        folder.rename(replaced)
    attempt.rename(folder)
    _discard(replaced)


def _discard(folder: Path) -> None:
    """Delete a replaced folder; one that will not go (NFS's .nfs files) is renamed out of the way."""
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        folder.rename(folder.with_name(f"{folder.name}-{time.time_ns()}"))


def recover(folder: Path) -> bool:
    """Finish a swap that was interrupted between its renames: no result is lost either way.

    True when it put a finished attempt in the run's folder.
    """
    replaced, attempt = paths.replaced_dir(folder), paths.attempt_dir(folder)
    if folder.exists() or not replaced.exists():
        return False
    if (attempt / paths.RUN_METRICS).is_file():
        attempt.rename(folder)
        _discard(replaced)
        return True
    replaced.rename(folder)
    return False
