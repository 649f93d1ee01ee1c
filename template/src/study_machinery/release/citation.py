"""A release's citation: CITATION.cff stamped with its version and date, and Zenodo's description.

CITATION.cff is the researcher's file (an update never writes it): a release replaces two of
its lines, `version:` and `date-released:` (or adds them), so its comments and order stay as
written. `.zenodo.json`, which Zenodo reads when it archives a release, is made from it by
cffconvert, the Citation File Format's own converter, which validates the file first; cffconvert
2.0.0 leaves out `upload_type`, the one field Zenodo requires that a CFF file cannot carry, so it
is added here (cffconvert#280).
"""

import json
import re
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from study_machinery.core import paths
from study_machinery.core.errors import StudyError

# In an environment of its own (uvx), so the study's uv.lock, part of every run's identity, stays as it is.
CFFCONVERT = ["uvx", "--quiet", "--from", "cffconvert==2.0.0", "cffconvert"]


def stamp(text: str, version: str, released: date) -> str:
    """CITATION.cff's text with this release's version and date, each line replaced or added."""
    for key, value in (("version", json.dumps(version)), ("date-released", released.isoformat())):
        line = re.compile(rf"^{key}:.*$", re.MULTILINE)
        if line.search(text):
            text = line.sub(f"{key}: {value}", text, count=1)
        else:
            text = text.rstrip("\n") + f"\n{key}: {value}\n"
    return text


def _cffconvert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CFFCONVERT, *args], capture_output=True, text=True, check=False)


def _last_line(result: subprocess.CompletedProcess) -> str:
    return (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["(no message)"])[-1]


def zenodo(citation: Path = paths.CITATION, named: str | None = None) -> dict:
    """The Zenodo description of the study, converted from CITATION.cff (checked on the way)."""
    named = named or paths.shown(citation)
    if shutil.which(CFFCONVERT[0]) is None:
        raise StudyError(
            "uvx is not installed here: a release converts CITATION.cff with cffconvert through it."
        )
    if (started := _cffconvert("--version")).returncode:
        raise StudyError(
            "uvx could not start cffconvert 2.0.0 (it fetches it from the package index once): "
            + _last_line(started)
        )
    made = _cffconvert("--format", "zenodo", "--infile", str(citation))
    if made.returncode:
        raise StudyError(f"{named} is not valid Citation File Format (cffconvert: {_last_line(made)}).")
    description = json.loads(made.stdout)
    if not description.get("description"):
        raise StudyError(
            f"{named} has no `abstract:`, which Zenodo requires as the study's description: add one "
            "(a sentence or two) and commit it."
        )
    return {"upload_type": "software", **description}


def refusals(version: str) -> list[str]:
    """What stops this release's citation: no CITATION.cff, or one that cffconvert or Zenodo refuses,
    checked on a stamped copy before anything is run or written."""
    named = paths.shown(paths.CITATION)
    if not paths.CITATION.is_file():
        return [f"no {named}: a release stamps its version there (a generated study has one)"]
    with tempfile.TemporaryDirectory(prefix="citation-") as folder:
        stamped = Path(folder) / paths.CITATION.name
        stamped.write_text(
            stamp(paths.CITATION.read_text(encoding="utf-8"), version, date.today()), encoding="utf-8"
        )
        try:
            zenodo(stamped, named)
        except StudyError as error:
            return [str(error)]
    return []


def write(version: str, released: date) -> list[Path]:
    """Stamp CITATION.cff and write .zenodo.json from it; the two files a release commits."""
    original = paths.CITATION.read_text(encoding="utf-8")
    paths.CITATION.write_text(stamp(original, version, released), encoding="utf-8")
    try:
        description = zenodo()
    except StudyError:
        paths.CITATION.write_text(original, encoding="utf-8")  # nothing is left half-released
        raise
    paths.ZENODO.write_text(json.dumps(description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return list(paths.RELEASED)
