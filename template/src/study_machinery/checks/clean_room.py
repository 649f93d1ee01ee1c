"""The clean room of a reproduction: a clone of the last commit in a temporary folder, its own
environment from the committed uv.lock, and the DVC-tracked inputs fetched into it, each checked
against its MD5 (reproduce.py runs the tier there)."""

import os
import shutil
import subprocess
from pathlib import Path

from study_machinery.core.environment import run_environment
from study_machinery.core.errors import StudyError
from study_machinery.storage.verify import corrupted, tracked_hashes
from study_machinery.tracking.settings import SWITCH

# What a command started from nox or another virtual environment inherits and must not pass on:
# with them, uv would install the clean room's packages into that environment, or use its Python.
OUTER_ENVIRONMENT = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON"}


class ReproduceError(StudyError):
    """Something stops the reproduction before any comparison can be made."""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def git(root: Path, *args: str) -> str:
    result = run(["git", *args], root)
    if result.returncode:
        raise ReproduceError(f"`git {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


def clean_env() -> dict[str, str]:
    # The clone gets an environment of its own, not the one this process runs in.
    env = {key: value for key, value in os.environ.items() if key not in OUTER_ENVIRONMENT}
    # The clean room starts a dozen Python processes: cached bytecode saves each a second or more.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # What takes effect only before Python starts, for every process of the clean room.
    env.update(run_environment())
    # The clone's runs are checked, then deleted: not logged to any tracker (tracking/).
    env[SWITCH] = "off"
    return env


def step(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    with log.open("a") as output:
        return subprocess.run(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT).returncode


def failed(command: list[str], log: Path) -> ReproduceError:
    tail = "\n".join(log.read_text().splitlines()[-30:])
    return ReproduceError(f"`{' '.join(command)}` failed in the clean room:\n{tail}")


def install(clone: Path, env: dict[str, str], log: Path) -> None:
    """A fresh environment in the clone, from its committed uv.lock."""
    command = ["uv", "sync", "--frozen", "--no-default-groups", "--group", "pipeline"]
    if step(command, clone, env, log):
        raise failed(command, log)


def _corruption(bad: list[Path], where: str, tracked: list[str]) -> ReproduceError:
    return ReproduceError(
        f"corrupted DVC cache objects in {where}: "
        + ", ".join(str(path) for path in bad)
        + " no longer match their MD5. Delete them; then fetch good copies with `uv run dvc pull` "
        "if your DVC remote has them, or, if the data in your working tree is intact (`uv run dvc "
        f"status` does not list it), put it back into the cache with `uv run dvc commit --force "
        f"{' '.join(tracked)}`. Run reproduce again (`uvx nox -s verify` checks the whole cache)."
    )


def _ascii_path(path: Path, link: Path) -> Path:
    """The path itself, or an ASCII-named link to it: DVC cannot write other paths to its config."""
    if str(path).isascii() or not str(link).isascii():
        return path
    try:
        link.symlink_to(path, target_is_directory=True)
    except OSError:  # no symlinks here (Windows without the privilege): try the path as it is
        return path
    return link


def restore_inputs(root: Path, clone: Path, env: dict[str, str], log: Path) -> None:
    """Fetch the data tracked with `dvc add` (*.dvc files) into the clone, checked against its MD5."""
    tracked = [name for name in git(clone, "ls-files", "-z", "*.dvc").split("\0") if name]
    if not tracked:
        return
    hashes = tracked_hashes(clone / name for name in tracked)
    dvc = ["uv", "run", "--frozen", "--no-sync", "dvc"]
    found = run([*dvc, "--cd", str(root), "cache", "dir"], clone, env)
    if found.returncode or not found.stdout.strip():
        raise ReproduceError(f"`dvc cache dir` failed in {root}: {found.stderr.strip()}")
    cache = Path(found.stdout.strip())
    # DVC would check a corrupted object out as it is: name it instead.
    if bad := corrupted(cache, hashes):
        raise _corruption(bad, "this study's cache", tracked)
    # The study's own remote settings (credentials included) are in its git-ignored config.local.
    local_config = root / ".dvc" / "config.local"
    if local_config.is_file():
        shutil.copy2(local_config, clone / ".dvc" / "config.local")
    remote = _ascii_path(cache, clone.parent / "study-cache")
    added = run([*dvc, "remote", "add", "--local", "study-cache", str(remote)], clone, env)
    if added.returncode:
        detail = (added.stderr.strip().splitlines() or [""])[0]
        raise ReproduceError(f"could not point the clean room at this study's DVC cache: {detail}")
    for which in (["--remote", "study-cache"], []):
        logged = log.stat().st_size if log.exists() else 0
        if step([*dvc, "pull", *which, *tracked], clone, env, log) == 0:
            # Whatever came from the remote is checked too.
            if bad := corrupted(clone / ".dvc" / "cache", hashes):
                raise _corruption(bad, "the DVC remote", tracked)
            return
    # What the remote answered, such as "Unable to locate credentials".
    with log.open(errors="replace") as text:
        text.seek(logged)
        said = [line.removeprefix("ERROR:").strip() for line in text if line.startswith("ERROR:")]
    raise ReproduceError(
        f"the data tracked by {', '.join(tracked)} is neither in this study's DVC cache nor in its "
        f"DVC remote{f' (DVC: {said[0]})' if said else ''}. If the remote "
        "needs credentials, give them as README.md says under 'Reproduce the main result'; "
        "otherwise restore the data in the study with `uv run dvc pull` (or re-create it and "
        "`uv run dvc add` it), commit, and run reproduce again."
    )
