"""`copier update` brings a newer template into a study and keeps the researcher's edits."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import copier
import pytest
import yaml
from conftest import REPO, commit_all, copy_study, git, research_and_house_tests, run, snapshot_template
from packaging.version import Version
from test_generate import RESEARCH

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
    dst = copy_study(releases, tmp_path / "study", vcs_ref="v1.0.0", record_first_result=False)
    # The researcher's work: a config change and a code change, committed.
    config = dst / RESEARCHER_CONFIG
    config.write_text(config.read_text().replace("hidden_units: [100]", "hidden_units: [256, 128]"))
    assert "[256, 128]" in config.read_text()
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
    assert yaml.safe_load((study / "conf/study.yaml").read_text())["tiers"]["small"]["seeds"] == [0, 1, 2]
    assert "hidden_units: [256, 128]" in (study / RESEARCHER_CONFIG).read_text()


def test_a_folder_not_made_by_the_template_is_refused(tmp_path):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    shutil.copy(__file__, folder / "code.py")
    commit_all(folder, "someone else's work", init=True)
    result = run(["copier", "update", "--trust", "--defaults"], folder)
    assert result.returncode != 0
    message = "Cannot update because cannot obtain old template references from `.copier-answers.yml`."
    assert message in result.stderr
    assert message in UPDATE_DOC
    assert (folder / "code.py").read_text() == Path(__file__).read_text()
    assert git(folder, "status", "--porcelain", "--untracked-files=all") == ""


CHANGELOG = (REPO / "CHANGELOG.md").read_text()
UPDATE_DOC = (REPO / "docs/update.md").read_text()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("n_seeds: 5", "n_seeds: 1"),
            "Validation error for question 'n_seeds': The number of seeds must be between 2 and 20",
        ),
        (("ci: github", "ci: jenkins"), "Invalid choice for 'ci': 'jenkins' is not in"),
        (("n_seeds: 5", "n_seeds: ["), 'while parsing a flow sequence\n  in "'),
        (("_commit: v1.0.0", ""), "Cannot update because cannot obtain old template references"),
    ],
    ids=["invalid-answer", "unknown-choice", "broken-yaml", "no-commit"],
)
def test_a_hand_edited_answers_file_is_refused_and_nothing_changes(study, edit, message):
    answers = study / ".copier-answers.yml"
    assert edit[0] in answers.read_text()
    answers.write_text(answers.read_text().replace(edit[0], edit[1]))
    commit_all(study, "edit the answers by hand")
    head = git(study, "rev-parse", "HEAD")
    result = run(["copier", "update", "--trust", "--defaults", "--vcs-ref=v1.1.0"], study)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert git(study, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(study, "rev-parse", "HEAD") == head
    assert not (study / "CONTRIBUTING.md").exists()
    if edit[1] and "parsing" not in message:
        assert message in UPDATE_DOC, "docs/update.md quotes what copier says"


def test_check_update_sees_the_newer_release(study):
    before = run(["copier", "check-update", "--output-format", "json"], study)
    assert json.loads(before.stdout) == {
        "update_available": True,
        "current_version": "1.0.0",
        "latest_version": "1.1.0",
    }
    copier.run_update(study, defaults=True, overwrite=True, unsafe=True, vcs_ref="v1.1.0", quiet=True)
    commit_all(study, "update")
    after = run(["copier", "check-update", "--quiet"], study)
    assert after.returncode == 0, "exit code 2 would mean an update is still available"


def test_the_changelog_names_pep_440_releases_newest_first():
    versions = re.findall(r"^## (\S+) \(", CHANGELOG, flags=re.MULTILINE)
    assert versions, "CHANGELOG.md has no release"
    parsed = [Version(version) for version in versions]
    assert all(
        str(version) == text and len(version.release) == 3
        for version, text in zip(parsed, versions, strict=True)
    )
    assert parsed == sorted(parsed, reverse=True)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert versions[0] == project, "the newest CHANGELOG entry is the version in pyproject.toml"


def test_a_study_made_before_the_remote_kind_was_asked_keeps_its_remote(tmp_path):
    """Up to 0.4.0 the template asked only for the remote's address; the update derives its kind."""
    repo = template_at(released()[0], tmp_path)
    study = copy_study(
        repo,
        tmp_path / "study",
        vcs_ref=old_tag(released()[0]),
        dvc_remote="s3://lab-data/study",
        record_first_result=False,
    )
    copier.run_update(study, defaults=True, overwrite=True, unsafe=True, vcs_ref=CURRENT, quiet=True)
    answers = yaml.safe_load((study / ".copier-answers.yml").read_text())
    assert (answers["dvc_remote_kind"], answers["dvc_remote"]) == ("s3", "s3://lab-data/study")
    pipeline = tomllib.loads((study / "pyproject.toml").read_text())["dependency-groups"]["pipeline"]
    assert pipeline == ["dvc[s3]>=3.60", "optuna>=4.5"]


def released() -> list[str]:
    """The commit of each release in the CHANGELOG, newest first."""
    return list(RELEASES)


# Each release's commit and its version, newest first; and the version the template is now.
RELEASE = re.compile(r"^## (\S+) \([^,)]*, ([0-9a-f]{7,40})\)", flags=re.MULTILINE)
RELEASES = {commit: version for version, commit in RELEASE.findall(CHANGELOG)}
CURRENT = "v" + re.search(r"^## (\S+)", CHANGELOG, flags=re.MULTILINE)[1]


# The releases a study updates from (docs/update.md): an older one updates to these first.
SUPPORTED = 2


def earlier_states() -> list[pytest.param]:
    """(release, answers): the releases a study updates from, the states studies are made from.

    The one before the latest with the default names, the latest with the other names (its
    files and paths the default ones are not). Each case copies, records, updates, re-records
    and tests a study (its research and house tests; its machinery is a fresh copy's, byte for
    byte): about a minute and a half of a 2-core machine. The commits between releases are
    left out: `copier copy` and `copier update` take releases.
    """
    latest, previous = released()[:SUPPORTED]
    defaults, others = HISTORY_ANSWERS
    cases = [(previous, defaults), (latest, others)]
    return [pytest.param(state, name, id=f"{state}-{name}") for state, name in cases]


# Two seeds in both: what an update merges does not depend on the number of seeds, and each
# run of the pipeline (at the old state, and after the update) then takes half as long.
HISTORY_ANSWERS = {
    "default-names": {"n_seeds": 2},
    "other-names": {
        "project_name": "Études de chiffres",
        "import_name": "chiffres",
        "python_version": "3.10",
        "n_seeds": 2,
    },
}
# A template-owned line of noxfile.py the researcher edits, and what the current template has
# in or beside its place (so the update conflicts there): the record session's `dvc repro`
# (0.3.0 and 0.4.0), right before which the template now checks the data the .dvc files track.
NOXFILE_EDITS = [
    (
        'session.run("dvc", "repro", *session.posargs, env=EXPERIMENT_ENV)',
        'session.run("dvc", "repro", "--pull", *session.posargs, env=EXPERIMENT_ENV)  # mine',
        'session.run(*MACHINERY, "inputs")',
    ),
]
# At the end of models.py: lines the template never changed in any release.
MY_IMPORT = "from .layers import WIDER  # noqa: E402  (mine)"
NARROWER = "# @package _global_\nvariant: ablation/narrower\nmodel:\n  hidden_units: [50]\n"


UPGRADE = REPO / "tasks" / "upgrade_to_0_5.py"


def test_the_upgrade_from_0_4_brings_its_files_to_this_release_s_formats(tmp_path):
    """tasks/upgrade_to_0_5.py, on what 0.4 left: a tier line of the researcher's, an unfinished
    run in its own folder with its SLURM record, a finished one, Hydra's record of a multirun."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/study.yaml").write_text(
        "tiers:\n  smoke:\n    seeds: [0, 1]\n    launcher: cores  # mine: 2 cores now\n"
    )
    tier = tmp_path / "runs/smoke"
    unfinished, finished = tier / "proposed/seed_0", tier / "proposed/seed_1"
    for folder in (unfinished, finished):
        folder.mkdir(parents=True)
        record = {"job": "6_0", "identity": "key", "log": "jobs/smoke/6_0.out", "submitted": "now"}
        (folder / "submitted.json").write_text(json.dumps(record))
    (unfinished / "started.json").write_text("{}")
    (finished / "started.json").write_text("{}")
    (finished / "metrics.json").write_text('{"accuracy": 0.9}\n')
    (finished / "run.json").write_text('{"wall_seconds": 1.0}\n')
    (tier / "multirun.yaml").write_text("hydra: {}\n")

    first = subprocess.run([sys.executable, str(UPGRADE)], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0 and not first.stderr, first.stderr
    assert "Brought to template 0.5's formats" in first.stdout
    assert (tmp_path / "conf/study.yaml").read_text().endswith("    executor: cores  # mine: 2 cores now\n")
    assert not (tier / "multirun.yaml").exists()
    attempt = tier / "proposed/seed_0.attempt"
    assert attempt.is_dir() and not unfinished.exists(), "the unfinished run resumes in its attempt"
    assert json.loads((attempt / "submitted.json").read_text())["executor"] == "slurm"
    where = {"wall_seconds": 1.0, "where": {"host": "unknown"}}
    assert json.loads((finished / "run.json").read_text()) == where
    assert (finished / "metrics.json").read_text() == '{"accuracy": 0.9}\n', "a result is never touched"
    again = subprocess.run([sys.executable, str(UPGRADE)], cwd=tmp_path, capture_output=True, text=True)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", ""), "once done, it does nothing"


def test_the_upgrade_changes_nothing_in_a_study_with_no_runs(tmp_path):
    result = subprocess.run([sys.executable, str(UPGRADE)], cwd=tmp_path, capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def old_tag(commit: str) -> str:
    return f"v{RELEASES[commit]}"


def template_at(commit: str, tmp_path: Path) -> Path:
    """A template repo with the release at `commit` tagged with its version (v0.4.0) and the
    current state with the CHANGELOG's newest (CURRENT): Copier runs the migrations between."""
    if subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO).returncode != 0:
        pytest.skip(f"this checkout does not have commit {commit} (a shallow clone?)")
    repo = tmp_path / "template"
    repo.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    commit_all(repo, f"template at {commit}", init=True)
    git(repo, "tag", old_tag(commit))
    current = snapshot_template(tmp_path / "current", "unused")
    for path in repo.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in current.iterdir():
        if path.name != ".git":
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, repo / path.name)
    commit_all(repo, "the current template")
    git(repo, "tag", CURRENT)
    return repo


def template_noxfile(commit: str) -> str:
    """The study's noxfile.py as the template at `commit` wrote it (NOXFILE_EDITS' lines are
    outside any Jinja block, so its source shows them as a study has them)."""
    return git(REPO, "show", f"{commit}:template/noxfile.py.jinja")


def conflicted_files(study: Path) -> list[str]:
    return [
        name
        # A conflicted file is listed once per side in the index.
        for name in dict.fromkeys(
            git(study, "ls-files", "--cached", "--others", "--exclude-standard").split()
        )
        if (study / name).is_file()
        and re.search(r"^<<<<<<< before updating$", (study / name).read_text(errors="replace"), re.MULTILINE)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(("commit", "answers"), earlier_states())
def test_a_study_from_an_earlier_state_updates_without_losing_work(commit, answers, tmp_path):
    repo = template_at(commit, tmp_path)
    # Recorded at copy time by that state's own task: the study has its data and its result.
    study = copy_study(repo, tmp_path / "study", vcs_ref=old_tag(commit), **HISTORY_ANSWERS[answers])
    package = HISTORY_ANSWERS[answers].get("import_name", "digits_study")

    # The researcher's work, one edit of each kind of file they own, and one of the template's.
    noxfile_text = (study / "noxfile.py").read_text()
    old_line, my_line, template_line = next(edit for edit in NOXFILE_EDITS if edit[0] in noxfile_text)
    mine = {
        "conf/model/mlp.yaml": ("hidden_units: [100]", "hidden_units: [128]"),
        f"src/{package}/models.py": (None, f"\n\n{MY_IMPORT}\n"),
        "pyproject.toml": (None, "\n# Researcher: no extra dependency yet.\n"),
        "README.md": ("A study of handwritten-digit classification", "My study of digits, in my words"),
        "noxfile.py": (old_line, my_line),
    }
    for name, (old, new) in mine.items():
        path = study / name
        text = path.read_text()
        assert old is None or old in text, f"{name} at {commit} has no {old!r}"
        path.write_text(text + new if old is None else text.replace(old, new))
    (study / "notes").mkdir()
    (study / "notes/ideas.md").write_text("# Ideas\n\n- label smoothing\n")
    # A new module that the model imports, a new ablation, and a deleted one.
    (study / f"src/{package}/layers.py").write_text("# Researcher: layer widths to try.\nWIDER = [256]\n")
    (study / "conf/variant/ablation/narrower.yaml").write_text(NARROWER)
    (study / "conf/variant/ablation/no_weight_decay.yaml").unlink()
    commit_all(study, "my research")
    readme = (study / "README.md").read_bytes()
    results = [study / "dvc.lock", *(path for path in (study / "results").rglob("*") if path.is_file())]
    recorded = {path: path.read_bytes() for path in results}

    copier.run_update(study, defaults=True, overwrite=True, unsafe=True, vcs_ref=CURRENT, quiet=True)

    # Every edit of the researcher's is still there.
    assert (study / "README.md").read_bytes() == readme, "README.md is never written by an update"
    assert "hidden_units: [128]" in (study / "conf/model/mlp.yaml").read_text()
    assert MY_IMPORT in (study / f"src/{package}/models.py").read_text()
    assert (study / f"src/{package}/layers.py").read_text().endswith("WIDER = [256]\n")
    assert (study / "conf/variant/ablation/narrower.yaml").read_text() == NARROWER
    assert "no extra dependency yet" in (study / "pyproject.toml").read_text()
    assert (study / "notes/ideas.md").read_text() == "# Ideas\n\n- label smoothing\n"
    assert {path: path.read_bytes() for path in recorded} == recorded, "the recorded result is the study's"
    assert not (study / "conf/variant/ablation/no_weight_decay.yaml").exists(), "a deletion stays"
    # What the earlier release wrote is now in this one's formats (copier.yml's _migrations).
    assert "launcher:" not in (study / "conf/study.yaml").read_text()
    assert not list((study / "runs").glob("*/multirun.yaml"))
    records = list((study / "runs").rglob("run.json"))
    assert records and all("where" in json.loads(path.read_text()) for path in records)
    # The template's improvements arrived, in the new layout: the machinery apart from the research.
    assert '"scipy>=' in (study / "pyproject.toml").read_text()
    assert (study / "src/study_machinery/results/estimates.py").is_file()
    assert (study / "CITATION.cff").is_file()
    # The machinery's modules moved into subpackages: none is left where an earlier release had it.
    assert not (study / "src/study_machinery/estimates.py").exists()
    assert sorted(path.name for path in (study / "src/study_machinery").glob("*.py")) == [
        "__init__.py",
        "__main__.py",
        "cli.py",
        "contract.py",
    ]
    research = sorted(path.name for path in (study / f"src/{package}").glob("*.py"))
    assert research == sorted([*(f"{module}.py" for module in RESEARCH), "layers.py"]), "only research there"
    assert yaml.safe_load((study / ".copier-answers.yml").read_text())["_commit"] == CURRENT
    assert not list(study.rglob("*.rej"))
    noxfile = (study / "noxfile.py").read_text()
    before = template_noxfile(commit)
    if template_line in before:
        # The template has not changed the lines around the researcher's since that state (its
        # other changes merge cleanly): the researcher's line simply stays.
        assert conflicted_files(study) == [] and my_line in noxfile
    else:
        # The one overlapping edit is marked inline with both sides, and nothing else conflicts.
        assert conflicted_files(study) == ["noxfile.py"]
        ours, theirs = (
            noxfile.split("<<<<<<< before updating\n")[1]
            .split(">>>>>>> after updating")[0]
            .split("=======\n")
        )
        assert my_line in ours and template_line in theirs
        # Resolved the template's way.
        resolved = re.sub(
            r"<<<<<<< before updating\n.*?=======\n(.*?)>>>>>>> after updating\n", r"\1", noxfile, flags=re.S
        )
        (study / "noxfile.py").write_text(resolved)

    # Re-recorded, the study's own tests pass.
    # The update changed the dependencies: the first session says the one command that follows.
    first = nox_session(study, "lint")
    assert first.returncode != 0
    assert "uv.lock no longer matches pyproject.toml" in first.stdout + first.stderr
    assert "run `uvx nox -s record`" in first.stdout + first.stderr
    recorded = nox_session(study, "record")
    assert recorded.returncode == 0, recorded.stdout[-3000:] + recorded.stderr[-3000:]
    commit_all(study, "Update to the template's latest release")
    # The machinery and its tests are now, byte for byte, those of a study copied fresh with
    # the same answers; tests/test_study.py runs fresh studies' whole fast tier (the default
    # answers, and other names on Python 3.10). So here, the research code's tests and the
    # machinery's house (a module an earlier release left behind fails those).
    fresh = copy_study(
        repo, tmp_path / "fresh", vcs_ref=CURRENT, record_first_result=False, **HISTORY_ANSWERS[answers]
    )
    for machinery in ("src/study_machinery", "tests/machinery"):
        assert tree(study / machinery) == tree(fresh / machinery), f"{machinery} differs from a fresh copy's"
    tested = nox_session(study, "tests", "--", "-m", "not slow", *research_and_house_tests(study))
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    runs = json.loads((study / "results/smoke/metrics.json").read_text())
    assert "ablation/narrower" in runs and "ablation/no_weight_decay" not in runs
    # The metrics' declarations came with the update, and the result was recorded again in the
    # current format: each comparison with its verdict and its family for Holm's adjustment.
    assert yaml.safe_load((study / "conf/study.yaml").read_text())["main_metric"] == "accuracy"
    comparisons = json.loads((study / "results/smoke/comparisons.json").read_text())
    entries = [
        entry
        for by_metric in comparisons.values()
        for tests in by_metric.values()
        for entry in tests.values()
    ]
    assert entries and all(entry["verdict"] and entry["family"] for entry in entries)
    # The runs depend on the research code as a whole: the new module too.
    with (study / f"src/{package}/layers.py").open("a") as layers:
        layers.write("NARROWER = [50]\n")
    status = run(["uv", "run", "--frozen", "dvc", "status"], study)
    assert status.returncode == 0 and "runs@smoke:" in status.stdout, status.stdout + status.stderr


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under FOLDER that git would see (no bytecode caches), with its bytes."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def nox_session(study: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "nox", "--no-color", "-s", name, *args], study, PYTHONHASHSEED="0")
