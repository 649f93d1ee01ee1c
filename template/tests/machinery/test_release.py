"""A release: its version checked, CITATION.cff stamped without losing a line of the
researcher's, and refused, with every reason named, before anything is tagged."""

import subprocess
from datetime import date

import pytest
import yaml

from study_machinery.core import paths
from study_machinery.release.citation import stamp
from study_machinery.release.make import VERSION, refusals


def test_a_release_stamps_the_citation_and_keeps_every_other_line():
    text = paths.CITATION.read_text(encoding="utf-8")
    stamped = stamp(text, "1.0", date(2027, 1, 31))
    citation = yaml.safe_load(stamped)
    # Quoted: a bare 1.0 would be a number, which the Citation File Format refuses.
    assert citation["version"] == "1.0" and citation["date-released"] == date(2027, 1, 31)
    kept = [line for line in text.splitlines() if not line.startswith(("version:", "date-released:"))]
    assert [
        line for line in stamped.splitlines() if not line.startswith(("version:", "date-released:"))
    ] == kept
    # A second release replaces the lines the first wrote; one without them gets them added.
    again = yaml.safe_load(stamp(stamped, "1.1", date(2027, 2, 1)))
    assert (again["version"], again["date-released"]) == ("1.1", date(2027, 2, 1))
    bare = "cff-version: 1.2.0\ntitle: T\n"
    assert yaml.safe_load(stamp(bare, "2.0.0", date(2027, 1, 1)))["version"] == "2.0.0"


@pytest.mark.parametrize("version", ["1.0.0", "2.1", "1.0rc1", "1.0.post1", "3"])
def test_a_version_as_pep_440_writes_it_is_taken(version):
    assert VERSION.fullmatch(version)


@pytest.mark.parametrize("version", ["v1.0.0", "1.0.0-beta", "one", "1..0", ""])
def test_another_version_is_refused_with_the_rule(version, tmp_path):
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    found = refusals(version, tmp_path)
    assert f"{version!r} is not a version as PEP 440 writes one" in found[0]


def test_a_version_already_tagged_and_uncommitted_work_are_both_named(tmp_path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "--quiet")
    (tmp_path / "notes.md").write_text("first\n")
    git("add", "notes.md")
    git("-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "--quiet", "-m", "first")
    git("-c", "user.name=A", "-c", "user.email=a@example.org", "tag", "-a", "v1.0.0", "-m", "1.0.0")
    (tmp_path / "notes.md").write_text("second\n")
    found = refusals("1.0.0", tmp_path)
    assert "v1.0.0 is released already (its tag exists): release the next version" in found
    assert any(reason.startswith("1 change(s) not committed (notes.md)") for reason in found)
