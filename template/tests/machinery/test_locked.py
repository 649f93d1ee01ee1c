"""The environment part of a run's identity: the packages a run can import, as uv.lock pins them.

A package in a dependency group (a tracker, a linter, the pipeline's tools) re-runs nothing; a
package the project's dependencies reach, at another version, re-runs everything
(core/locked.py). The first tests edit a copy of the study's own uv.lock; the last read locks
written here, in uv's form, for what the study's may not have (a fork, an extra, git).
"""

import re
from pathlib import Path

import pytest

from study_machinery.core import locked, paths, provenance

LOCK = paths.ROOT / paths.LOCK
# A package no study has, added by the tests below.
ADDED = (
    '[[package]]\nname = "added-by-test"\nversion = "1.0.0"\nsource = { registry = "https://example.org" }\n'
)


@pytest.fixture
def studys_lock() -> dict:
    """The study's own uv.lock, read (the tests further down write locks of their own)."""
    lock = locked.read()
    if lock is None:
        pytest.skip("the study has no uv.lock yet: `uv lock`")
    return lock


@pytest.fixture
def lock(studys_lock, tmp_path) -> Path:
    """A copy of the study's uv.lock, to edit."""
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


def test_the_runtime_is_what_the_project_depends_on_and_no_group(studys_lock):
    names = {name for name, _, _ in locked.runtime(studys_lock)}
    project = locked.the_project(studys_lock)
    assert project is not None, "uv.lock has no entry for the study's own package"
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
    name, version, _ = locked.runtime(locked.read(lock.parent))[0]
    text = lock.read_text(encoding="utf-8")
    pinned = f'name = "{name}"\nversion = "{version}"\n'
    assert pinned in text
    lock.write_text(text.replace(pinned, f'name = "{name}"\nversion = "{version}.post1"\n'), encoding="utf-8")
    assert locked.runtime_sha256(lock.parent) != before


def test_no_lock_yet_has_no_environment(tmp_path):
    assert locked.runtime_sha256(tmp_path) is None


def a_lock(*packages: dict) -> dict:
    """uv.lock as read: the study (installed from its folder) and the packages given."""
    return {
        "package": [
            {"name": "study", "version": "0.1.0", "source": {"editable": "."}, **packages[0]},
            *packages[1:],
        ]
    }


def pypi(name: str, version: str, **more) -> dict:
    return {"name": name, "version": version, "source": {"registry": "https://example.org/simple"}, **more}


def hashed(lock: dict) -> str:
    return provenance.json_sha256(locked.runtime(lock))


def test_a_dependency_of_a_dependency_counts_and_a_group_does_not():
    def lock(b_version: str, linter: str) -> dict:
        return a_lock(
            {"dependencies": [{"name": "a"}], "dev-dependencies": {"lint": [{"name": "linter"}]}},
            pypi("a", "1.0", dependencies=[{"name": "b"}]),
            pypi("b", b_version),
            pypi("linter", linter),
        )

    assert [name for name, _, _ in locked.runtime(lock("2.0", "1.0"))] == ["a", "b"]
    assert hashed(lock("2.0", "1.0")) == hashed(lock("2.0", "9.0"))
    assert hashed(lock("2.0", "1.0")) != hashed(lock("2.1", "1.0"))


def test_what_an_extra_brings_counts_and_extras_that_name_each_other_end():
    def lock(c_version: str) -> dict:
        return a_lock(
            {"dependencies": [{"name": "a", "extra": ["fast"]}]},
            pypi("a", "1.0", **{"optional-dependencies": {"fast": [{"name": "b", "extra": ["back"]}]}}),
            pypi(
                "b",
                "1.0",
                **{"optional-dependencies": {"back": [{"name": "a", "extra": ["fast"]}, {"name": "c"}]}},
            ),
            pypi("c", c_version),
        )

    assert [name for name, _, _ in locked.runtime(lock("1.0"))] == ["a", "b", "c"]
    assert hashed(lock("1.0")) != hashed(lock("1.1"))


def test_the_projects_own_extras_count():
    """As uv's guide to PyTorch declares it: torch in the project's extras, one per accelerator."""
    lock = a_lock(
        {
            "optional-dependencies": {
                "cpu": [{"name": "torch", "version": "2.9.0+cpu"}],
                "cu": [{"name": "torch", "version": "2.9.0"}],
            }
        },
        pypi("torch", "2.9.0+cpu"),
        pypi("torch", "2.9.0"),
    )
    assert [version for _, version, _ in locked.runtime(lock)] == ["2.9.0", "2.9.0+cpu"]


def test_each_version_of_a_fork_counts_by_the_version_its_edge_names():
    def lock(old: str) -> dict:
        edges = [
            {"name": "numpy", "version": old, "marker": "python_full_version < '3.11'"},
            {"name": "numpy", "version": "2.4.6", "marker": "python_full_version >= '3.11'"},
        ]
        return a_lock(
            {"dependencies": edges}, pypi("numpy", old), pypi("numpy", "2.4.6"), pypi("numpy", "9.9")
        )

    assert [version for _, version, _ in locked.runtime(lock("2.2.6"))] == ["2.2.6", "2.4.6"]
    assert hashed(lock("2.2.6")) != hashed(lock("2.2.5"))


def test_the_walk_starts_at_the_study_not_at_a_path_dependency_named_before_it():
    lock = a_lock(
        {"dependencies": [{"name": "mylib"}, {"name": "numpy"}]},
        {
            "name": "aaa",
            "version": "1.0",
            "source": {"editable": "../aaa"},
            "dependencies": [{"name": "six"}],
        },
        {"name": "mylib", "version": "0.1", "source": {"editable": "../mylib"}},
        pypi("numpy", "2.4.6"),
        pypi("six", "1.0"),
    )
    lock["package"].insert(0, lock["package"].pop(1))  # the other package first, as uv's order can put it
    assert [name for name, _, _ in locked.runtime(lock)] == ["mylib", "numpy"]


def test_a_package_from_git_counts_by_its_commit():
    def lock(commit: str) -> dict:
        source = {"git": f"https://example.org/lib.git?rev=main#{commit}"}
        return a_lock(
            {"dependencies": [{"name": "lib"}]}, {"name": "lib", "version": "0.1", "source": source}
        )

    assert hashed(lock("1" * 40)) != hashed(lock("2" * 40))
