"""What the study's readers get: the README's sections written for them, and the criteria of
ACM's artifact badges (Artifact Review and Badging, version 1.1), each read from the study.

Available: a release archived where anyone can get it, with a DOI (Zenodo gives one for the
archive `nox -s release` writes). Functional: documented, complete and exercisable: the README
says how to reproduce and use the study, and the result matches the code. Reusable: functional,
with a license and the way to use the method written down. Reproduced: someone other than the
authors obtained the main result with the authors' artifacts, which no file can say.
"""

import contextlib
import re
import subprocess
from pathlib import Path

import yaml

from study_machinery.core import paths

# A line of the README's skeleton that the template wrote for a section only the author can.
TO_WRITE = re.compile(r"^<!-- to write: (.*?) -->\r?$", re.MULTILINE)
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def unwritten_sections(readme: str) -> list[str]:
    """The headings of the README's sections whose `<!-- to write: ... -->` line is still there."""
    found = []
    for match in TO_WRITE.finditer(readme):
        headings = HEADING.findall(readme, 0, match.start())
        found.append(headings[-1] if headings else "(before the title)")
    return found


def _readme() -> str:
    return paths.README.read_text(encoding="utf-8") if paths.README.is_file() else ""


def readers_state(done: str, todo: str) -> tuple[str, str]:
    sections = unwritten_sections(_readme())
    if sections:
        return todo, (
            f"README.md: {len(sections)} section(s) still as the template wrote them: {'; '.join(sections)}. "
            "Write each for your readers, then delete its `<!-- to write: ... -->` line"
        )
    return done, "README.md: what the study asks and finds, reproduce, use it, a first walk-through"


def last_release(root: Path = paths.ROOT) -> str | None:
    """The newest tag vVERSION with a version as PEP 440 writes it (others are the researcher's
    own tags), if the study has been released."""
    from packaging.version import InvalidVersion, Version

    tags = subprocess.run(
        ["git", "tag", "--list", "v*"], cwd=root, capture_output=True, text=True, check=False
    )
    released = []
    for tag in tags.stdout.split():
        with contextlib.suppress(InvalidVersion):
            released.append((Version(tag[1:]), tag))
    return max(released)[1] if released else None


def doi() -> str | None:
    """The DOI that CITATION.cff gives the study (`doi:`, or an identifier of type doi)."""
    if not paths.CITATION.is_file():
        return None
    citation = yaml.safe_load(paths.CITATION.read_text(encoding="utf-8")) or {}
    found = [citation.get("doi")] + [
        entry.get("value") for entry in citation.get("identifiers") or [] if entry.get("type") == "doi"
    ]
    return next((str(value) for value in found if value), None)


def available_state(done: str, todo: str) -> tuple[str, str]:
    release, identifier = last_release(), doi()
    if release is None:
        return todo, (
            "not released: `uvx nox -s release -- 1.0.0` tags it and writes the archive to "
            "upload to Zenodo, which gives it a DOI"
        )
    if identifier is None:
        return todo, (
            f"released as {release}, with no DOI yet: upload its archive (dist/) to Zenodo and write "
            "the DOI into CITATION.cff (`doi: 10.5281/zenodo.NUMBER`)"
        )
    return done, f"{release}, archived with DOI {identifier} (CITATION.cff)"


def functional_state(done: str, todo: str, current: tuple[str, str]) -> tuple[str, str]:
    """Documented (the README's sections), complete and exercisable (the result matches the code)."""
    if current[0] != done:
        return current
    if readers_state(done, todo)[0] != done:
        return todo, "documented once the README's sections for readers are written (the item above)"
    return done, "the README documents it; `uvx nox -s reproduce` re-runs the whole result in one command"


def reusable_state(done: str, todo: str, functional: tuple[str, str]) -> tuple[str, str]:
    if not paths.LICENSE.is_file():
        return todo, "no LICENSE: without one, nobody may reuse the code"
    if functional[0] != done:
        return functional
    return done, "functional, with a LICENSE, the method's use in the README, and one contract (contract.py)"


def reproduced_state(check: str) -> tuple[str, str]:
    release = last_release()
    ours = (
        f"{release} reproduced here in a clean room before it was tagged" if release else "not released yet"
    )
    return check, f"{ours}; the badge needs someone else to reproduce it from the archive: no file can say"
