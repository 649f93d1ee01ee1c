"""`copier update` brings a newer template into a study and keeps the researcher's edits."""

import shutil
from pathlib import Path

import copier
import pytest
import yaml
from conftest import commit_all, git, run, snapshot_template

RESEARCHER_CONFIG = "conf/model/mlp.yaml"
RESEARCHER_CODE = "src/digits_study/experiment.py"


@pytest.fixture
def releases(tmp_path):
    """The template as it is (v1.0.0) and with one improvement more (v1.1.0), in one git repo."""
    repo = snapshot_template(tmp_path / "template", "v1.0.0")
    with (repo / "template/.gitignore").open("a") as gitignore:
        gitignore.write("\n# Editor files.\n.idea/\n")
    (repo / "template/CONTRIBUTING.md").write_text("# Contributing\n\nRun `uvx nox` before you commit.\n")
    commit_all(repo, "an improvement")
    git(repo, "tag", "v1.1.0")
    return repo


@pytest.fixture
def study(releases, tmp_path):
    dst = tmp_path / "study"
    data = {"dvc_remote": str(tmp_path / "remote"), "record_first_result": False}
    copier.run_copy(str(releases), dst, data=data, defaults=True, unsafe=True, vcs_ref="v1.0.0", quiet=True)
    # The researcher's work: a config change and a code change, committed.
    config = dst / RESEARCHER_CONFIG
    config.write_text(config.read_text().replace("hidden_units: [100]", "hidden_units: [256, 128]"))
    with (dst / RESEARCHER_CODE).open("a") as code:
        code.write("\n\n# Researcher's note: try label smoothing next.\n")
    commit_all(dst, "my research")
    return dst


def test_update_keeps_edits_and_brings_improvements(study):
    commits = git(study, "rev-list", "--count", "HEAD")
    copier.run_update(study, defaults=True, overwrite=True, unsafe=True, vcs_ref="v1.1.0", quiet=True)

    assert "hidden_units: [256, 128]" in (study / RESEARCHER_CONFIG).read_text()
    assert "try label smoothing next" in (study / RESEARCHER_CODE).read_text()
    assert ".idea/" in (study / ".gitignore").read_text()
    assert (study / "CONTRIBUTING.md").is_file()
    assert not list(study.rglob("*.rej"))
    assert yaml.safe_load((study / ".copier-answers.yml").read_text())["_commit"] == "v1.1.0"
    assert git(study, "rev-list", "--count", "HEAD") == commits, "update must not run the copy task"


def test_update_from_inside_the_study_with_the_cli(study):
    result = run(["copier", "update", "--trust", "--defaults", "--vcs-ref=v1.1.0"], study)
    assert result.returncode == 0, result.stderr
    assert (study / "CONTRIBUTING.md").is_file()


def test_update_refuses_a_dirty_study_and_changes_nothing(study):
    (study / "notes.txt").write_text("not committed yet\n")
    before = {
        path: path.read_bytes() for path in study.rglob("*") if path.is_file() and ".git" not in path.parts
    }
    result = run(["copier", "update", "--trust", "--defaults", "--vcs-ref=v1.1.0"], study)
    assert result.returncode != 0
    assert "dirty" in (result.stdout + result.stderr).lower()
    after = {
        path: path.read_bytes() for path in study.rglob("*") if path.is_file() and ".git" not in path.parts
    }
    assert after == before


def test_update_with_a_changed_answer(study):
    copier.run_update(
        study, data={"n_seeds": 3}, defaults=True, overwrite=True, unsafe=True, vcs_ref="v1.1.0", quiet=True
    )
    assert yaml.safe_load((study / "conf/study.yaml").read_text())["seeds"] == [0, 1, 2]
    assert "hidden_units: [256, 128]" in (study / RESEARCHER_CONFIG).read_text()


def test_a_folder_not_made_by_the_template_is_refused(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    shutil.copy(__file__, folder / "code.py")
    commit_all(folder, "someone else's work", init=True)
    result = run(["copier", "update", "--trust", "--defaults"], folder)
    assert result.returncode != 0
    assert (folder / "code.py").read_text() == Path(__file__).read_text()
