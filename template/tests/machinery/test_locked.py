"""The environment part of a run's identity: the packages a run can import, as uv.lock pins them.

A package in a dependency group (a tracker, a linter, the pipeline's tools) re-runs nothing; a
package the project's dependencies reach, at another version, re-runs everything
(core/locked.py). Each test edits a copy of the study's own uv.lock.
"""

import re
from pathlib import Path

import pytest

from study_machinery.core import locked, paths

LOCK = paths.ROOT / paths.LOCK
pytestmark = pytest.mark.skipif(not LOCK.is_file(), reason="the study has no uv.lock yet: `uv lock`")
# A package no study has, added by the tests below.
ADDED = (
    '[[package]]\nname = "added-by-test"\nversion = "1.0.0"\nsource = { registry = "https://example.org" }\n'
)


@pytest.fixture
def lock(tmp_path) -> Path:
    copy = tmp_path / paths.LOCK
    copy.write_bytes(LOCK.read_bytes())
    return copy


def project_section(text: str) -> re.Match:
    """The study's own [[package]] entry in uv.lock: the one installed from its folder."""
    found = re.search(
        r'\[\[package\]\]\nname = "[^"]+"\nversion = "[^"]+"\nsource = \{ (editable|virtual) = "\." \}\n',
        text,
    )
    assert found, "uv.lock has no entry for the study's own package"
    return found


def test_the_runtime_is_what_the_project_depends_on_and_no_group():
    lock = locked.read()
    assert lock is not None
    names = {name for name, _ in locked.runtime(lock)}
    project = next(p for p in lock["package"] if "editable" in p["source"] or "virtual" in p["source"])
    direct = {dep["name"] for dep in project.get("dependencies", [])}
    assert direct and direct <= names
    only_in_groups = {
        dep["name"] for deps in project.get("dev-dependencies", {}).values() for dep in deps
    } - names
    assert only_in_groups, "every group's package is reached from the dependencies too"
    assert project["name"] not in names, "the study's own code is the identity's code part"


def test_a_package_added_to_a_group_leaves_the_environment_as_it_is(lock):
    before = locked.runtime_sha256(lock.parent)
    text = lock.read_text(encoding="utf-8")
    # `uv add --group tracking added-by-test`, as uv writes it: the package, and the group's entry.
    text = re.sub(
        r"(\[package\.dev-dependencies\]\n\w+ = \[\n)", r'\1    { name = "added-by-test" },\n', text, count=1
    )
    lock.write_text(f"{text}\n{ADDED}", encoding="utf-8")
    assert "added-by-test" in {
        dep["name"]
        for p in locked.read(lock.parent)["package"]
        for deps in p.get("dev-dependencies", {}).values()
        for dep in deps
    }
    assert locked.runtime_sha256(lock.parent) == before


def test_a_package_added_to_the_dependencies_changes_the_environment(lock):
    before = locked.runtime_sha256(lock.parent)
    text = lock.read_text(encoding="utf-8")
    end = project_section(text).end()
    text = text[:end] + text[end:].replace(
        "dependencies = [\n", 'dependencies = [\n    { name = "added-by-test" },\n', 1
    )
    lock.write_text(f"{text}\n{ADDED}", encoding="utf-8")
    assert locked.runtime_sha256(lock.parent) != before


def test_another_version_of_a_dependency_changes_the_environment(lock):
    before = locked.runtime_sha256(lock.parent)
    name, version = locked.runtime(locked.read(lock.parent))[0]
    text = lock.read_text(encoding="utf-8")
    pinned = f'name = "{name}"\nversion = "{version}"\n'
    assert pinned in text
    lock.write_text(text.replace(pinned, f'name = "{name}"\nversion = "{version}.post1"\n'), encoding="utf-8")
    assert locked.runtime_sha256(lock.parent) != before


def test_no_lock_yet_has_no_environment(tmp_path):
    assert locked.runtime_sha256(tmp_path) is None
