"""A release: its version checked, CITATION.cff stamped without losing a line of the
researcher's, and refused, with every reason named, before anything is tagged."""

import subprocess
from datetime import date

import pytest
import yaml

from study_machinery.core import paths
from study_machinery.release import citation
from study_machinery.release.citation import stamp
from study_machinery.release.make import VERSION, refusals, version_refusal


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
    assert f"{version!r} is not a version as PEP 440 writes one" in version_refusal(tmp_path, version)


def test_a_version_not_above_the_last_release_and_uncommitted_work_are_both_named(tmp_path, monkeypatch):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "--quiet")
    (tmp_path / "notes.md").write_text("first\n")
    git("add", "notes.md")
    git("-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "--quiet", "-m", "first")
    git("-c", "user.name=A", "-c", "user.email=a@example.org", "tag", "-a", "v1.0.0", "-m", "1.0.0")
    git("tag", "v-my-own-tag")  # not a release: left out of the comparison
    for same_or_older in ("1.0.0", "1.0", "0.9"):
        said = version_refusal(tmp_path, same_or_older)
        assert (
            said == f"v1.0.0 is released already: the next release is numbered above it, not {same_or_older}"
        )
    assert version_refusal(tmp_path, "1.0.1") is None and version_refusal(tmp_path, "2.0rc1") is None
    (tmp_path / "notes.md").write_text("second\n")
    (tmp_path / "new.md").write_text("untracked: a result recorded but not added would be left out\n")
    # The citation's check converts it with cffconvert (the template's release test runs it).
    monkeypatch.setattr(citation, "refusals", lambda version: [])
    found = refusals("1.0.0", tmp_path, with_data=False)
    assert found[0].startswith("v1.0.0 is released already")
    assert any(reason.startswith("2 change(s) not committed (") for reason in found), found


def test_data_missing_from_the_cache_is_named_before_anything_is_released(tmp_path, monkeypatch):
    """The archive holds the tracked data from this study's DVC cache: a clone that never pulled
    it is refused with what to do, not tagged and then stuck."""
    from study_machinery.release import archive

    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.dvc").write_text(
        "outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: raw\n"
    )
    subprocess.run(["git", "-C", str(tmp_path), "add", "data/raw.dvc"], check=True)
    monkeypatch.setattr(archive, "cache_dir", lambda root: tmp_path / "cache")
    [said] = archive.refusals(tmp_path)
    assert said.startswith(
        f"this study's DVC cache ({tmp_path / 'cache'}) lacks 1 object(s) of the data data/raw.dvc"
    )
    assert "`uv run dvc pull` fetches them" in said and "--without-data" in said
