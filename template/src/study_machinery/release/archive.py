"""The release's archive: dist/NAME-VERSION.tar.gz, which reproduces with no DVC remote.

It unpacks into NAME-VERSION/: a git clone of the release's tag (the code, the configs, uv.lock,
the recorded results, the README: what `nox -s reproduce` clones again), whose DVC cache holds
every object of the inputs that the *.dvc files track (data/raw/), so that `uvx nox -s
reproduce` there fetches nothing (`uv run dvc checkout` puts the data in place for other work).
The runs are left out: reproduce executes them again, and the recorded results say what they
gave. `--without-data`, for inputs too large to archive, leaves the cache empty: the archive's
.dvc/config then names the remote a reader fetches them from.
"""

import shutil
import tarfile
import tempfile
from pathlib import Path

from study_machinery.checks.clean_room import git
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.storage.verify import cache_dir, corrupted, objects, tracked_hashes


def _anonymous(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """No owner of this machine in the archive: it unpacks as whoever unpacks it."""
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def _inputs(root: Path) -> tuple[list[str], list[str], Path, list[Path]]:
    """The *.dvc files of the commit, their MD5s, this study's DVC cache and its objects of them."""
    tracked = [name for name in git(root, "ls-files", "-z", "*.dvc").split("\0") if name]
    hashes = tracked_hashes(root / name for name in tracked)
    cache = cache_dir(root)
    return tracked, hashes, cache, objects(cache, hashes)


def refusals(root: Path) -> list[str]:
    """What stops the archive from holding the data: objects missing from, or corrupted in, the cache."""
    tracked, hashes, cache, wanted = _inputs(root)
    missing = [path for path in wanted if not path.is_file()]
    bad = corrupted(cache, hashes) if not missing else []
    if not missing and not bad:
        return []
    what = f"lacks {len(missing)} object(s)" if missing else f"holds {len(bad)} corrupted object(s)"
    return [
        f"this study's DVC cache ({cache}) {what} of the data {', '.join(tracked)} track, which the "
        "archive holds: `uv run dvc pull` fetches them (`uvx nox -s verify` names corrupted ones), "
        "or release `--without-data`"
    ]


def _copy_inputs(root: Path, clone: Path) -> int:
    """Copy the tracked inputs' objects from this study's DVC cache into the clone's; their size."""
    if problems := refusals(root):
        raise StudyError(problems[0])
    _, _, cache, wanted = _inputs(root)
    size = 0
    for path in wanted:
        copy = clone / ".dvc" / "cache" / path.relative_to(cache)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
        size += path.stat().st_size
    return size


def build(root: Path, tag: str, name: str, with_data: bool = True) -> tuple[Path, int]:
    """Write dist/NAME.tar.gz from the tag; returns it and the size of the data it holds."""
    target, size = paths.DIST_DIR / f"{name}.tar.gz", 0
    with tempfile.TemporaryDirectory(prefix="release-") as work:
        clone = Path(work) / name
        # Through git's transport, the tag's history alone: no other branch, stash or object the
        # study's .git holds (an amended commit's credentials, say) comes with it.
        git(
            Path(work),
            "clone",
            "--quiet",
            "--no-local",
            "--single-branch",
            "--branch",
            tag,
            str(root),
            str(clone),
        )
        # The clone's origin and its reflog name this folder, which a reader has no use for.
        git(clone, "remote", "remove", "origin")
        shutil.rmtree(clone / ".git" / "logs", ignore_errors=True)
        if with_data:
            size = _copy_inputs(root, clone)
        paths.DIST_DIR.mkdir(exist_ok=True)
        # Written beside its place, then moved: an interrupted release leaves no half archive.
        partial = target.with_name(target.name + ".partial")
        try:
            with tarfile.open(partial, "w:gz") as archive:
                archive.add(clone, arcname=name, filter=_anonymous)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    return target, size
