"""Studies generated over every question axis: exact files, no Jinja left, lint clean."""

import configparser
import importlib.util
import json
import re
import subprocess
import tomllib

import jinja2.sandbox
import pytest
import yaml
from conftest import CONFIG, REPO, axes, copy_study, git, run
from import_graph import ARROW, draw

STATIC = {
    ".copier-answers.yml",
    ".dvc/.gitignore",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "AUTHORING.md",
    "CITATION.cff",
    "LICENSE",
    "README.md",
    "conf/augmentation/none.yaml",
    "conf/augmentation/shifts.yaml",
    "conf/config.yaml",
    "conf/data/digits.yaml",
    *(f"conf/executor/{name}.yaml" for name in ("basic", "cores", "ray", "slurm")),
    "conf/preprocessing/none.yaml",
    "conf/preprocessing/standard.yaml",
    "conf/scale/large.yaml",
    "conf/scale/medium.yaml",
    "conf/scale/small.yaml",
    "conf/scale/smoke.yaml",
    "conf/study.yaml",
    "conf/tracking.yaml",
    "conf/variant/ablation/no_augmentation.yaml",
    "conf/variant/ablation/no_standardization.yaml",
    "conf/variant/baseline/logistic_regression.yaml",
    "dvc.yaml",
    "noxfile.py",
    "pyproject.toml",
    "tests/conftest.py",
    "tests/test_experiment.py",
    "tests/machinery/conftest.py",
    *(
        f"tests/machinery/test_{name}.py"
        for name in (
            "architecture",
            "cli",
            "curves",
            "executors",
            "identity",
            "layout",
            "locked",
            "metrics",
            "push",
            "release",
            "results",
            "runs",
            "scaling",
            "search",
            "statistics",
            "tracking",
            "variants",
        )
    ),
}
# What differs with the framework: the models, their training, and the variants that name them.
FRAMEWORK_FILES = {
    framework: {
        "conf/model/logistic_regression.yaml",
        "conf/model/mlp.yaml",
        "conf/training/adam.yaml",
        "conf/variant/proposed.yaml",
        # The search spaces: the method's and each baseline's (docs/tuning.md).
        "conf/search/proposed.yaml",
        "conf/search/baseline/logistic_regression.yaml",
        *files,
    }
    for framework, files in {
        "sklearn": {
            "conf/model/knn.yaml",
            "conf/variant/ablation/no_weight_decay.yaml",
            "conf/variant/baseline/knn.yaml",
            "conf/search/baseline/knn.yaml",
        },
        "pytorch": {
            "conf/model/cnn.yaml",
            "conf/variant/ablation/no_dropout.yaml",
            "conf/variant/baseline/mlp.yaml",
            "conf/search/baseline/mlp.yaml",
            "tests/test_training.py",
        },
    }.items()
}
# The researcher's code, in src/<import name>/ (a PyTorch study's has its training loop too).
RESEARCH = ["__init__", "config", "data", "experiment", "fetch_demo_data", "models", "prepare"]
RESEARCH_MODULES = {"sklearn": RESEARCH, "pytorch": [*RESEARCH, "checkpoints", "distributed", "train"]}
# The template's machinery, in src/study_machinery/: by subpackage (docs/layout.md), and on top.
MACHINERY = {
    "": ["__init__", "__main__", "cli", "contract"],
    "core": [
        "__init__",
        "environment",
        "epochs",
        "errors",
        "locked",
        "paths",
        "provenance",
        "settings",
        "study",
    ],
    "tracking": ["__init__", "dvclive_run", "mlflow_run", "settings", "wandb_run"],
    "runs": ["__init__", "ablations", "attempt", "execution", "folder", "identity", "plan", "ranks"],
    "executors": [
        "__init__",
        "basic",
        "cores",
        "ray",
        "records",
        "slurm",
        "slurm_jobs",
        "slurm_settings",
        "slurm_submit",
    ],
    "tiers": ["__init__", "batch", "progress", "status", "tier"],
    "search": ["__init__", "ledger", "settings", "space", "trials", "tune"],
    "storage": ["__init__", "fetch", "push", "verify"],
    "results": ["__init__", "aggregate", "curves", "estimates", "recorded"],
    "report": [
        *("__init__", "curves", "figure", "latex", "numbers", "readme", "scaling", "search", "tables"),
        "write",
    ],
    "checks": ["__init__", "artifacts", "checklist", "clean_room", "compare", "numbers", "reproduce"],
    "release": ["__init__", "archive", "citation", "make"],
}
# What the first run adds to the first commit.
RECORDED = {
    "uv.lock",
    "dvc.lock",
    "data/raw.dvc",
    *(
        f"results/{tier}/{name}"
        for tier in ("smoke", "small")
        for name in ("comparisons.json", "compute.json", "curves.csv", "metrics.json", "runs.csv")
    ),
    # The main tier's report.
    *(f"results/small/{name}" for name in ("table.md", "table.tex", "differences.tex", "numbers.tex")),
    "results/small/numbers.md",
    *(f"results/small/{name}.{kind}" for name in ("figure", "curves") for kind in ("png", "pdf")),
}
PAPER = {"paper/.gitignore", "paper/main.tex", "paper/references.bib"}


CI_FILES = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}
# Beside GitHub's workflow: what keeps its pinned actions up to date.
CI_EXTRAS = {"github": {".github/dependabot.yml"}, "gitlab": set()}


def expected_files(
    import_name: str, recorded: bool, ci: str = "github", paper: bool = False, framework: str = "sklearn"
) -> set[str]:
    package = {f"src/{import_name}/{module}.py" for module in RESEARCH_MODULES[framework]}
    package |= {
        f"src/study_machinery/{sub}/{module}.py".replace("//", "/")
        for sub, modules in MACHINERY.items()
        for module in modules
    }
    ci_files = {path for provider, path in CI_FILES.items() if provider in ci}
    ci_files |= {path for provider, extras in CI_EXTRAS.items() if provider in ci for path in extras}
    optional = (RECORDED if recorded else set()) | (PAPER if paper else set())
    return STATIC | FRAMEWORK_FILES[framework] | package | ci_files | optional


def label(answers: dict) -> str:
    return ",".join(f"{key}={value}" for key, value in answers.items()) or "defaults"


@pytest.fixture(scope="module", params=[a for a in axes() if a.get("record_first_result", True)], ids=label)
def study(request, template, tmp_path_factory):
    """One study per axis value, generated without its (slow) first run."""
    answers = {**request.param, "record_first_result": False}
    return copy_study(template, tmp_path_factory.mktemp("study") / "study", **answers), request.param


def test_exact_file_set_in_the_first_commit(study):
    folder, answers = study
    expected = expected_files(
        "digits_study",
        recorded=False,
        ci=answers.get("ci", "github"),
        paper=answers.get("paper", False),
        framework=answers.get("framework", "sklearn"),
    )
    assert set(git(folder, "ls-files").splitlines()) == expected
    assert git(folder, "status", "--porcelain") == "", "the copy task commits every file it creates"


# What GitHub itself evaluates in a workflow: `${{ github.ref }}`, written so on purpose.
GITHUB_EXPRESSION = re.compile(r"\$\{\{ [\w.]+ \}\}")


def test_no_jinja_left_in_any_file_or_path(study):
    folder, _ = study
    for name in git(folder, "ls-files").splitlines():
        text = (folder / name).read_text(encoding="utf-8")
        if name.startswith(".github/workflows/"):
            text = GITHUB_EXPRESSION.sub("", text)
        for marker in ("{{", "{%", "{#"):
            assert marker not in name, name
            assert marker not in text, f"{marker} left in {name}"


def test_config_files_parse(study):
    folder, _ = study
    pyproject = tomllib.loads((folder / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=" + (folder / ".python-version").read_text().strip()
    for path in [*folder.rglob("*.yaml"), folder / ".copier-answers.yml"]:
        yaml.safe_load(path.read_text())


def test_answers_reach_the_study(study):
    folder, answers = study
    recorded = yaml.safe_load((folder / ".copier-answers.yml").read_text())
    for key, value in answers.items():
        assert recorded[key] == value
    license_text = (folder / "LICENSE").read_text()
    assert recorded["author_name"] in license_text
    assert {"MIT": "MIT License", "BSD-3-Clause": "BSD 3-Clause", "Apache-2.0": "Apache License"}[
        recorded["license"]
    ] in license_text
    tiers = yaml.safe_load((folder / "conf/study.yaml").read_text())["tiers"]
    assert tiers["small"]["seeds"] == list(range(recorded["n_seeds"]))
    trackers = yaml.safe_load((folder / "conf/tracking.yaml").read_text())["trackers"]
    assert trackers == recorded["trackers"]
    groups = tomllib.loads((folder / "pyproject.toml").read_text())["dependency-groups"]
    assert sorted(pin.split(">=")[0] for pin in groups["tracking"]) == sorted(trackers)
    assert {"include-group": "tracking"} in groups["dev"]


def test_the_readme_is_for_readers_and_its_authors_guide_is_one_link_away(study):
    """The README's sections in the order a reader needs them, each the author must still write
    marked; the guide for the authors one link away, which points to the template's docs/ folder
    (a copy from a local clone, as here) without a path of the author's machine."""
    folder, _ = study
    readme = (folder / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", readme, re.M)
    sections = ["What it finds", "Reproduce the main result", "Use it", "A first walk-through", "Cite"]
    assert headings == sections
    assert readme.count("<!-- to write: ") == 4, "the opening, the finding, Use it and the walk-through"
    assert "[AUTHORING.md](AUTHORING.md)" in readme.split("\n## ", 1)[0], "linked before the first section"
    guide = (folder / "AUTHORING.md").read_text()
    assert guide.startswith("# Working on ") and "[README](README.md)" in guide
    assert (
        "and has a FAQ:\nthe `docs/` folder of the template this study came from (`_src_path` in\n" in guide
    )
    source = yaml.safe_load((folder / ".copier-answers.yml").read_text())["_src_path"]
    assert source not in readme and source not in guide


GITHUB_DOCS = "https://github.com/ada/template/blob/HEAD/docs/index.md"


@pytest.mark.parametrize(
    ("source", "docs"),
    [
        ("gh:ada/template", GITHUB_DOCS),
        ("https://github.com/ada/template.git", GITHUB_DOCS),
        ("https://github.com/ada/template/", GITHUB_DOCS),
        ("git@github.com:ada/template.git", GITHUB_DOCS),
        ("ssh://git@github.com/ada/template.git", GITHUB_DOCS),
        ("git+https://github.com/ada/template.git", GITHUB_DOCS),
        ("gl:lab/group/template", "https://gitlab.com/lab/group/template/-/blob/HEAD/docs/index.md"),
        ("https://gitlab.com/lab/template.git", "https://gitlab.com/lab/template/-/blob/HEAD/docs/index.md"),
        ("/home/ada/template", ""),
        ("https://git.example.org/ada/template.git", ""),
    ],
)
def test_a_copy_from_github_or_gitlab_links_to_the_docs_pages_there(source, docs):
    """copier.yml's computed `template_docs`, rendered as copier renders it (its Jinja filters):
    the tests cannot copy from those hosts, which this machine cannot reach."""
    environment = jinja2.sandbox.SandboxedEnvironment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"]
    )
    assert environment.from_string(CONFIG["template_docs"]["default"]).render(_src_path=source) == docs


def test_ruff_is_clean_and_the_formatter_changes_nothing(study):
    folder, _ = study
    check = run(["ruff", "check", "--no-cache", "."], folder)
    assert check.returncode == 0, check.stdout
    formatted = run(["ruff", "format", "--no-cache", "--check", "--diff", "."], folder)
    assert formatted.returncode == 0, formatted.stdout


def test_ci_runs_lint_tests_and_the_smoke_tier(study):
    folder, _ = study
    for path in CI_FILES.values():
        if (folder / path).is_file():
            text = (folder / path).read_text()
            for command in ("nox -s lint", 'nox -s tests -- -m "not slow"', "nox -s reproduce -- smoke"):
                assert command in text, f"{path} does not run `{command}`"


def test_no_study_records_a_result_without_running(study):
    folder, _ = study
    assert not (folder / "results").exists()
    assert "No result has been recorded yet" in (folder / "README.md").read_text()


def test_the_citation_file_is_valid_and_names_the_author(study):
    folder, _ = study
    validated = run(["cffconvert", "--validate", "--infile", "CITATION.cff"], folder)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    citation = yaml.safe_load((folder / "CITATION.cff").read_text())
    answers = yaml.safe_load((folder / ".copier-answers.yml").read_text())
    author = citation["authors"][0]
    assert f"{author['given-names']} {author['family-names']}" == answers["author_name"]
    assert (citation["title"], citation["license"]) == (answers["project_name"], answers["license"])


def test_answers_are_escaped_for_latex_and_citation(generate):
    name = "R&D: 100% {fast} #1 a\\b ~x^2 <5> ±1 $3 my_study ↑↓"
    folder = generate(project_name=name, author_name="Plato", paper=True, record_first_result=False)
    main = (folder / "paper/main.tex").read_text()
    assert r"\title{R\&D: 100\% \{fast\} \#1 a\textbackslash{}b" in main
    # Copier's escaping of the title and the study's own (its tables) are one table, checked here.
    spec = importlib.util.spec_from_file_location("latex", folder / "src/study_machinery/report/latex.py")
    latex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(latex)
    assert set(latex.SPECIAL) <= set(name), "the name holds every special character"
    assert f"\\title{{{latex.escape(name)}}}" in main
    assert r"\author{Plato}" in main
    assert yaml.safe_load((folder / "CITATION.cff").read_text())["authors"][0]["given-names"] == "Plato"
    assert run(["cffconvert", "--validate", "--infile", "CITATION.cff"], folder).returncode == 0


def test_the_remote_is_configured_with_its_plugin_and_no_secret(study):
    folder, answers = study
    kind = answers.get("dvc_remote_kind", "local")
    config = configparser.ConfigParser()
    # DVC's config is INI with indented keys, which configparser would read as continuation lines.
    config.read_string("\n".join(line.strip() for line in (folder / ".dvc/config").read_text().splitlines()))
    url = config["'remote \"storage\"'"]["url"]
    assert config["core"]["remote"] == "storage"
    scheme = {"local": None, "other": "https"}.get(kind, kind)
    assert url.startswith(f"{scheme}://") if scheme else "://" not in url
    assert set(config["'remote \"storage\"'"]) <= {"url", "endpointurl", "account_name"}, "no credentials"
    pipeline = tomllib.loads((folder / "pyproject.toml").read_text())["dependency-groups"]["pipeline"]
    plugin = kind not in ("local", "other")
    assert pipeline == [f"dvc[{kind}]>=3.60" if plugin else "dvc>=3.60", "optuna>=4.5"]
    if plugin:
        # The extra resolves to DVC's plugin for that kind of storage.
        locked = run(["uv", "lock", "--quiet"], folder)
        assert locked.returncode == 0, locked.stderr
        assert f'name = "dvc-{kind}"' in (folder / "uv.lock").read_text()
    readme = (folder / "README.md").read_text()
    assert url in readme or kind == "local"
    assert ("uv run dvc remote modify --local storage" in readme) == (kind != "local")


# repo-review and its checks, from the package index: what the habits are checked against.
REPO_REVIEW = [
    "uvx",
    "--from",
    "sp-repo-review[cli]==2026.8.14",
    "--with",
    "repo-review==1.3.0",
    "repo-review",
]
ZIZMOR = ["uvx", "zizmor==1.32.0", "--offline"]
LEFT_OUT = re.compile(r"^\| (`[A-Z]+\d+`(?:, `[A-Z]+\d+`)*) \|", re.M)


def test_a_study_keeps_the_habits_repo_review_checks_but_those_docs_leave_out(template, tmp_path):
    study = copy_study(template, tmp_path / "study", record_first_result=False)
    review = subprocess.run(
        [*REPO_REVIEW, str(study), "--format", "json"], capture_output=True, text=True, check=False
    )
    checks = json.loads(review.stdout)["checks"]
    failed = {name for name, check in checks.items() if check["result"] is False}
    documented = {
        name.strip("` ")
        for cells in LEFT_OUT.findall((REPO / "docs" / "layout.md").read_text())
        for name in cells.split(",")
    }
    assert failed == documented, f"fails {sorted(failed - documented)}; passes {sorted(documented - failed)}"
    for kept in ("PP305", "PP306", "PP308", "PP309", "MY100", "GH102", "GH103", "GH200", "RF002"):
        assert checks[kept]["result"] is True, kept
    audit = subprocess.run([*ZIZMOR, str(study / ".github")], capture_output=True, text=True, check=False)
    assert audit.returncode == 0 and "No findings to report" in audit.stdout + audit.stderr, audit.stdout


def test_docs_layout_md_names_every_subpackage_and_module_of_the_machinery():
    """docs/layout.md's map of src/study_machinery/: each subpackage, each of its modules named in
    parentheses after what it does."""
    text = (REPO / "docs" / "layout.md").read_text()
    tree = text.split("```\n", 2)[1]
    described: dict[str, set[str]] = {}
    current = None
    for line in tree.splitlines():
        entry = re.match(r"^    (\w+)/ +(.*)$", line)
        if entry:
            current = entry.group(1)
            described[current] = set()
            said = entry.group(2)
        elif current and re.match(r"^ {26}\S", line):
            said += " " + line.strip()
        else:
            current = None
        if current:
            described[current] = {
                name for named in re.findall(r"\(([^)]*)\)", said) for name in re.findall(r"\w+", named)
            }
    subpackages = {name for name in MACHINERY if name}
    assert set(described) == subpackages
    for name in subpackages:
        unnamed = sorted(set(MACHINERY[name]) - {"__init__"} - described[name])
        assert not unnamed, f"docs/layout.md's {name}/ does not name {unnamed}"
    for module in MACHINERY[""]:
        if module not in ("__init__", "__main__"):
            assert f"    {module}.py " in tree, f"docs/layout.md does not show {module}.py"


def test_the_machinery_and_its_tests_are_the_same_code_in_every_study():
    """Only contract.py is rendered (with the import name), and no file of the machinery or of its
    tests is there for some answers only: so the PyTorch study and the history updates may leave
    tests/machinery to the default study (research_and_house_tests in conftest.py)."""
    rendered = [
        path.relative_to(REPO / "template").as_posix()
        for folder in ("src/study_machinery", "tests/machinery")
        for path in (REPO / "template" / folder).rglob("*")
        if path.suffix == ".jinja" or "{" in path.relative_to(REPO / "template").as_posix()
    ]
    assert rendered == ["src/study_machinery/contract.py.jinja"]
    contract = (REPO / "template/src/study_machinery/contract.py.jinja").read_text()
    assert "{%" not in contract and set(re.findall(r"{{\s*(\w+)\s*}}", contract)) == {"import_name"}


def test_docs_layout_md_draws_the_import_graph_the_code_has():
    """Its drawing is the one tasks/import_graph.py makes from the template's files, and every
    arrow points to a line above its own: no part of a study imports one drawn below it."""
    text = (REPO / "docs" / "layout.md").read_text()
    marker = "<!-- the import graph, as `python tasks/import_graph.py` draws it"
    drawing = re.search(re.escape(marker) + r"[^>]*-->\n```text\n(.*?)\n```", text, re.S)
    assert drawing, "docs/layout.md has lost its drawing of the import graph"
    assert drawing.group(1) == draw(), "run `python tasks/import_graph.py`: put its drawing in docs/layout.md"
    above: list[str] = []
    for line in drawing.group(1).splitlines():
        part, _, imported = (side.strip() for side in line.partition(ARROW))
        pointing_down = [name for name in imported.split(", ") if name != "nothing" and name not in above]
        assert not pointing_down, f"{part} imports {pointing_down}, drawn below it"
        above.append(part)
