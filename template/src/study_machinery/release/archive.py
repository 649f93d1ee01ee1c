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


def _copy_inputs(clone: Path) -> int:
    """Copy the tracked inputs' objects from this study's DVC cache into the clone's; their size."""
    tracked = [line for line in git(clone, "ls-files", "*.dvc").splitlines() if line]
    hashes = tracked_hashes(clone / name for name in tracked)
    cache = cache_dir()
    wanted = objects(cache, hashes)
    missing = [path for path in wanted if not path.is_file()]
    if missing or (bad := corrupted(cache, hashes)):
        what = f"lacks {len(missing)} object(s)" if missing else f"holds {len(bad)} corrupted object(s)"
        raise StudyError(
            f"this study's DVC cache ({cache}) {what} of the data {', '.join(tracked)} track: "
            "`uvx nox -s verify` names them; `uv run dvc pull` fetches good copies. Release again then."
        )
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
        git(Path(work), "clone", "--quiet", "--branch", tag, str(root), str(clone))
        # The clone's origin is this folder, which a reader of the archive does not have.
        git(clone, "remote", "remove", "origin")
        if with_data:
            size = _copy_inputs(clone)
        paths.DIST_DIR.mkdir(exist_ok=True)
        # Written beside its place, then moved: an interrupted release leaves no half archive.
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(clone, arcname=name, filter=_anonymous)
        partial.replace(target)
    return target, size
