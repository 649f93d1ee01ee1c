"""Shared helpers: a clean git snapshot of the template, the question axes, study generation."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tasks"))
from environment import OUTER_ENVIRONMENT, without_outer  # noqa: E402
from slurm_cluster import slurm_cluster, why_not  # noqa: E402


def copier_config() -> dict:
    """copier.yml as copier reads it: its YAML documents merged, `!include` files among them."""

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: yaml.SafeLoader, node: yaml.Node) -> list:
        return [
            doc
            for path in sorted(REPO.glob(loader.construct_scalar(node)))
            for doc in yaml.load_all(path.read_text(), Loader)
        ]

    Loader.add_constructor("!include", include)
    merged = {}
    for document in yaml.load_all((REPO / "copier.yml").read_text(), Loader):
        for part in document if isinstance(document, list) else [document]:
            merged |= part or {}
    return merged


CONFIG = copier_config()
# The questions copier asks: neither settings (`_...`) nor values it computes (`when: false`).
QUESTIONS = {
    name: spec for name, spec in CONFIG.items() if not name.startswith("_") and spec.get("when") is not False
}
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.org",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.org",
}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout


def snapshot_template(dst: Path, tag: str) -> Path:
    """Copy the template's files as they are in this working tree into a fresh, tagged git repo.

    Studies are generated from such a snapshot, never from the checkout itself, so
    the tests see uncommitted edits and depend on no tag of the checkout.
    """
    listed = git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dst / name)
    commit_all(dst, f"template {tag}", init=True)
    git(dst, "tag", tag)
    return dst


def commit_all(repo: Path, message: str, init: bool = False) -> None:
    if init:
        git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(
        repo, "-c", "user.name=Template Tests", "-c", "user.email=tests@example.org", "commit", "-qm", message
    )


def axes() -> list[dict]:
    """Answers that differ from the defaults in one question at a time, read from copier.yml.

    Every choice of every multiple-choice question and both values of every
    yes/no question appear at least once; a question that takes several choices
    (multiselect) takes each alone.
    """
    combos = [{}]
    for name, spec in QUESTIONS.items():
        if spec.get("multiselect"):
            combos += [{name: [value]} for value in spec["choices"].values()]
        elif "choices" in spec:
            values = spec["choices"].values() if isinstance(spec["choices"], dict) else spec["choices"]
            combos += [{name: value} for value in values if value != spec.get("default")]
        elif spec.get("type") == "bool":
            combos.append({name: not spec["default"]})
    return combos


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_template(tmp_path_factory.mktemp("template"), "v0.0.0")


@pytest.fixture(scope="session", autouse=True)
def _test_environment(tmp_path_factory: pytest.TempPathFactory):
    """Keep git identities, DVC remotes and telemetry of the tests away from the user's."""
    patch = pytest.MonkeyPatch()
    for key, value in GIT_IDENTITY.items():
        patch.setenv(key, value)
    patch.setenv("DVC_NO_ANALYTICS", "1")
    patch.setenv("UV_PYTHON_DOWNLOADS", "never")
    # A study's uv must neither install into the tests' environment nor use its Python. (Copy
    # tasks run in the environment copier saw when imported: the noxfile unsets these for them.)
    for name in OUTER_ENVIRONMENT:
        patch.delenv(name, raising=False)
    yield
    patch.undo()


def copy_study(template: Path, dst: Path, vcs_ref: str = "HEAD", **answers) -> Path:
    """Generate a study with copier's Python API, as `copier copy --trust --defaults` would.

    A local DVC remote is a folder beside it, so that the tests never write to the user's home.
    """
    local = answers.get("dvc_remote_kind", "local") == "local"
    data = {"dvc_remote": str(dst.parent / f"{dst.name}-dvc-remote")} if local else {}
    data |= answers
    copier.run_copy(str(template), dst, data=data, defaults=True, unsafe=True, vcs_ref=vcs_ref, quiet=True)
    return dst


@pytest.fixture
def generate(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    def _generate(**answers) -> Path:
        return copy_study(template, tmp_path_factory.mktemp("study") / "study", **answers)

    return _generate


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A real single-node SLURM cluster (slurmctld, slurmd, munge): the environment to reach it.

    One per test module that asks for it; two modules' clusters coexist (their own ports, state).
    """
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a command in a study, with no virtual environment of the tests leaking in."""
    environment = without_outer({**os.environ, **env})
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, errors="replace", check=False
    )


def research_and_house_tests(study: Path) -> list[str]:
    """The tests of a study's research code (tests/test_*.py) and the machinery's house tests,
    which read the research package's files and imports: what a study runs whose machinery and
    its tests are, byte for byte, a fresh default study's, which tests/test_study.py runs whole.
    (The machinery's code and tests are the same in every study: contract.py alone is rendered,
    with the import name.)"""
    research = sorted(path.relative_to(study).as_posix() for path in (study / "tests").glob("test_*.py"))
    return [*research, "tests/machinery/test_architecture.py", "tests/machinery/test_layout.py"]


LONGEST = ("earlier_state", "docs_commands_run")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The tests of one generated study of test_study.py form a pytest-xdist group.

    With --dist loadgroup a group's tests run in one worker, which then makes the study once.
    The longest tests (updates from earlier states, the docs' commands) go first, so that no
    worker ends alone on one.
    """
    items.sort(key=lambda item: not any(name in item.name for name in LONGEST))
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "study" in params:
            item.add_marker(pytest.mark.xdist_group(params["study"]))
        elif "default_study" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("defaults"))
