"""`uvx nox -s release -- VERSION` (`python -m study_machinery release --version VERSION`).

A release is a commit that others can cite and run. It is refused, every reason named, unless
the version is new and reads as PEP 440 writes one (1.0.0, 1.1rc1), every change is committed,
the result is current (`dvc status`), the README's results section matches it, no number of
the prose is typed by hand, and then the main result reproduces in a clean room (what `nox -s
reproduce` does). Only then does it stamp CITATION.cff with the version and today's date, write
.zenodo.json from it (citation.py), commit both as "Release VERSION", tag that commit vVERSION
and write dist/PACKAGE-VERSION.tar.gz (archive.py). Nothing leaves this machine: `git push
--follow-tags` publishes the tag, and the archive goes to Zenodo (or any archive) by hand.
"""

import re
import subprocess
from datetime import date
from pathlib import Path

from study_machinery import contract
from study_machinery.checks import reproduce
from study_machinery.checks.artifacts import last_release
from study_machinery.checks.checklist import DONE, pipeline_state, readme_state
from study_machinery.checks.clean_room import git
from study_machinery.checks.numbers import typed_numbers
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.release import archive, citation

# PEP 440's public versions, as a release is numbered: 1.0.0, 2.1, 1.0rc1, 1.0.post1.
VERSION = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")


def version_refusal(root: Path, version: str) -> str | None:
    """Why this version cannot be the next release, if it cannot: not PEP 440's, or not newer."""
    from packaging.version import Version

    if not VERSION.fullmatch(version):
        return f"{version!r} is not a version as PEP 440 writes one, such as 1.0.0 or 1.1rc1"
    newest = last_release(root)
    if newest and Version(version) <= Version(newest[1:]):
        return f"{newest} is released already: the next release is numbered above it, not {version}"
    return None


def refusals(version: str, root: Path, with_data: bool = True) -> list[str]:
    """Every reason not to release this version now (none: it may be released)."""
    found = [reason] if (reason := version_refusal(root, version)) else []
    # Untracked files too: a result recorded but not added (a new tier's) would be left out.
    dirty = git(root, "status", "--porcelain").splitlines()
    if dirty:
        found.append(f"{len(dirty)} change(s) not committed ({dirty[0][3:]}): a release is of a commit")
    identity = subprocess.run(
        ["git", "var", "GIT_COMMITTER_IDENT"], cwd=root, capture_output=True, check=False
    )
    if identity.returncode:
        found.append("git knows no name and email to commit the release with: `git config user.name ...`")
    for state, detail in (pipeline_state(), readme_state()):
        if state != DONE:
            found.append(detail)
    if typed := typed_numbers(root):
        found.append(f"{len(typed)} number(s) of the prose typed by hand, such as {typed[0]}")
    found += citation.refusals(version)
    if with_data:
        found += archive.refusals(root)
    return found


def _commit(root: Path, version: str) -> None:
    """Stamp and commit the citation, then tag the commit; a failed commit undoes the stamp."""
    before = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in paths.RELEASED}
    written = [paths.shown(path) for path in citation.write(version, date.today())]
    git(root, "add", "--", *written)
    committed = subprocess.run(
        ["git", "commit", "--quiet", "-m", f"Release {version}"], cwd=root, capture_output=True, text=True
    )
    if committed.returncode:
        git(root, "reset", "--quiet", "HEAD", "--", *written)
        for path, text in before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        said = (committed.stdout + committed.stderr).strip().splitlines()[-5:]
        raise StudyError("the release's commit failed, and nothing was released:\n  " + "\n  ".join(said))
    tagged = subprocess.run(
        ["git", "tag", "--annotate", f"v{version}", "-m", f"Release {version}"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if tagged.returncode:
        raise StudyError(
            f"the release's tag failed ({tagged.stderr.strip()}): {_undo(version, tagged=False)}"
        )


def _undo(version: str, tagged: bool = True) -> str:
    undo = f"git tag -d v{version} && git reset --hard HEAD~1" if tagged else "git reset --hard HEAD~1"
    return f"the release's commit stands; undo it with `{undo}`, then release again"


def release(version: str, with_data: bool = True) -> list[str]:
    """Check, reproduce, stamp, commit, tag and archive; what it did, a line each."""
    root = reproduce.study_root()
    if problems := refusals(version, root, with_data):
        raise StudyError(f"release {version} is refused:\n  " + "\n  ".join(problems))
    print(f"release {version}: the main result first, re-run in a clean room ...", flush=True)
    if reproduce.main() != 0:
        raise StudyError(f"release {version} is refused: the main result does not reproduce (above).")
    _commit(root, version)
    try:
        target, size = archive.build(root, f"v{version}", f"{contract.PACKAGE}-{version}", with_data)
    except (StudyError, OSError) as error:
        raise StudyError(f"the release's archive failed ({error}): {_undo(version)}") from None
    data = f"with {size / 2**20:.1f} MiB of data" if with_data else "without its data (--without-data)"
    return [
        f"released {version}: commit {git(root, 'rev-parse', '--short', 'HEAD').strip()}, tag v{version}",
        f"CITATION.cff says version {version} of {date.today().isoformat()}; .zenodo.json is made from it",
        f"{paths.shown(target)} ({target.stat().st_size / 2**20:.1f} MiB, {data}): unpacked anywhere, "
        "`uvx nox -s reproduce` there needs no DVC remote",
        "to publish: `git push --follow-tags`, then upload the archive to Zenodo (.zenodo.json describes it)",
    ]
