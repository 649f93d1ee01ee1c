"""Check the DVC cache: `python -m study_machinery verify` (what `nox -s verify` runs).

DVC files each cached object under its MD5, and checks a corrupted object out
without a word. This re-hashes the objects and names every one whose content no
longer matches its name. Exit code 0: all good; 1: corruption found.
"""

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

from study_machinery.core.errors import StudyError
from study_machinery.core.paths import ROOT

CHUNK = 2**20


def _object(cache: Path, md5: str) -> Path:
    return cache / "files" / "md5" / md5[:2] / md5[2:]


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(path: Path) -> str:
    return path.parent.name + path.name.removesuffix(".dir")


def tracked_hashes(dvc_files: Iterable[Path]) -> list[str]:
    """The MD5s that `.dvc` files point to (a directory's ends in `.dir`)."""
    return [
        out["md5"]
        for dvc_file in dvc_files
        for out in (yaml.safe_load(dvc_file.read_text()) or {}).get("outs", [])
        if "md5" in out
    ]


def check_inputs(root: Path = ROOT) -> None:
    """Every path that a data/*.dvc file tracks is in the working tree, and no such folder is empty.

    Before any stage runs, `dvc repro` records a `dvc add`-ed folder in its .dvc file as it finds
    it: an emptied data/raw would replace the pointer to the data with that of an empty folder.
    """
    for dvc_file in sorted(root.glob("data/*.dvc")):
        try:
            outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs", [])
        except yaml.YAMLError:
            continue  # DVC itself names a .dvc file it cannot read
        for out in outs:
            path = dvc_file.parent / out.get("path", "")
            empty = path.is_dir() and not any(path.iterdir())
            if path.exists() and not empty:
                continue
            name, record = path.relative_to(root).as_posix(), dvc_file.relative_to(root).as_posix()
            why = f", and `dvc repro` would record it so in {record}" if empty else ""
            raise StudyError(
                f"{name} is {'empty' if empty else 'missing'}{why}: restore it with "
                f"`uv run dvc checkout {record}` (or `uv run dvc pull` when this study's DVC cache lacks it)."
            )


def corrupted(cache: Path, hashes: Iterable[str] | None = None) -> list[Path]:
    """Cache objects whose content does not match their MD5.

    With `hashes`, only those objects are checked (a directory's listing and every
    file in it); otherwise the whole cache. Missing objects are not corruption:
    `dvc pull` fetches them.
    """
    if hashes is None:
        found = [path for path in (cache / "files" / "md5").glob("*/*") if path.is_file()]
    else:
        found = objects(cache, hashes)
    return [path for path in found if path.is_file() and _md5(path) != _expected(path)]


def objects(cache: Path, hashes: Iterable[str]) -> list[Path]:
    """The cache's files of these MD5s: each object, and for a directory its listing and every
    file the listing names (a listing that is missing or corrupted names none)."""
    found = []
    for md5 in hashes:
        listing = _object(cache, md5)
        found.append(listing)
        if md5.endswith(".dir") and listing.is_file() and _md5(listing) == _expected(listing):
            found += [_object(cache, entry["md5"]) for entry in json.loads(listing.read_text())]
    return found


def cache_dir(root: Path = ROOT) -> Path:
    """The study's DVC cache, wherever `dvc cache dir` says it is (clusters often move it)."""
    found = subprocess.run(
        [sys.executable, "-m", "dvc", "cache", "dir"], cwd=root, capture_output=True, text=True, check=False
    )
    if found.returncode:
        raise StudyError(f"`dvc cache dir` failed in {root}: {found.stderr.strip()}")
    return Path(found.stdout.strip())


def main() -> int:
    cache = cache_dir()
    if not (cache / "files" / "md5").is_dir():
        raise StudyError(f"{cache} holds no DVC objects: nothing to verify (run `uv run dvc pull` first).")
    bad = corrupted(cache)
    for path in bad:
        print(f"corrupted: {path} (its content no longer matches its MD5)")
    if bad:
        print(
            "Delete these files; then fetch good copies with `uv run dvc pull` if your DVC remote has "
            "them. If it does not: data tracked by a .dvc file whose working copy is intact goes "
            "back into the cache with `uv run dvc commit --force data/NAME.dvc`, and a stage's "
            "outputs are made again with `uv run dvc repro --force STAGE`."
        )
        return 1
    checked = sum(1 for path in (cache / "files" / "md5").glob("*/*") if path.is_file())
    print(f"{checked} objects in {cache}: every one matches its MD5.")
    return 0
