"""The machinery's own house: subpackages by concern, dependencies pointing one way, small modules.

Every import is read, those inside functions and under TYPE_CHECKING too, since each is a
dependency a reader has to follow.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml

from study_machinery import contract
from study_machinery.core import paths

MACHINERY = Path(contract.__file__).parent
# The subpackages, lowest first: each imports only those before it, and contract.py (the one
# way to the research code). cli.py, on top, may import any of them.
LAYERS = (
    *("core", "tracking", "runs", "executors", "tiers", "search"),
    *("storage", "results", "report", "checks", "release"),
)
TOP = {"__init__", "__main__", "cli", "contract"}
# A module a reader takes in at once; more than this is two concerns.
MOST_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(MACHINERY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(MACHINERY.rglob("*.py"))}


def imports(path: Path) -> set[str]:
    """The machinery's modules that a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.name}: `from .{node.module or ''} import`: write the import in full")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "study_machinery":
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "study_machinery"}
    return found - {module_name(path)}


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def layer(module: str) -> str:
    """The subpackage a module is in, or "top" for those beside them (cli.py, contract.py...)."""
    path = MODULES.get(module)
    return "top" if path is not None and path.parent == MACHINERY else module.split(".")[1]


def test_every_module_is_in_a_subpackage_or_on_top():
    for name, path in MODULES.items():
        assert layer(name) in LAYERS or path.stem in TOP, f"{name}: put it in one of {', '.join(LAYERS)}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_subpackage_imports_only_the_ones_below_it(name):
    where = layer(name)
    if where not in LAYERS:
        return  # the top: cli.py, contract.py, __main__.py
    allowed = {*LAYERS[: LAYERS.index(where) + 1]}
    wrong = {
        imported
        for imported in GRAPH[name]
        if imported != "study_machinery.contract" and layer(imported) not in allowed
    }
    assert not wrong, f"{name} ({where}) imports {sorted(wrong)}, which stand above it: {' < '.join(LAYERS)}"


def test_contract_imports_nothing_of_the_machinery():
    assert GRAPH["study_machinery.contract"] == set()


def test_no_import_cycle():
    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for imported in GRAPH.get(todo.pop(), ()):
                if imported not in seen:
                    seen.add(imported)
                    todo.append(imported)
        return seen

    cycles = sorted(name for name in GRAPH if name in reachable(name))
    assert not cycles, f"these modules import themselves back: {cycles}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_300_lines(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MOST_LINES, f"{name} has {lines} lines: split it by concern"


# Each stage of dvc.yaml, and the module its command runs (cli.py hands it over).
STAGES = {
    "runs": "study_machinery.tiers.tier",
    "aggregate": "study_machinery.results.aggregate",
    "report": "study_machinery.report.write",
}
# What changes no result is no dependency of a stage: the trackers only log what a run did.
NOT_A_DEPENDENCY = {"src/study_machinery/tracking"}


def closure(module: str) -> set[str]:
    seen, todo = {module}, [module]
    while todo:
        for imported in GRAPH.get(todo.pop(), ()):
            if imported in MODULES and imported not in seen:
                seen.add(imported)
                todo.append(imported)
    return seen


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_depends_on_the_machinery_it_runs(stage):
    """A stage re-runs when the code that makes its outputs changes: dvc.yaml lists its folders."""
    spec = yaml.safe_load((paths.ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]
    deps = set(spec.get("do", spec)["deps"])
    root = MACHINERY.relative_to(paths.ROOT).as_posix()
    needed = {
        f"{root}/{MODULES[name].stem}.py" if layer(name) == "top" else f"{root}/{layer(name)}"
        for name in closure(STAGES[stage])
    }
    missing = sorted(needed - deps - NOT_A_DEPENDENCY)
    assert not missing, f"dvc.yaml's {stage} stage runs code from {missing}: add them to its deps"


# The file names the machinery reads and writes, each spelt once, in core/paths.py.
FILE_NAMES = {
    value
    for name, value in vars(paths).items()
    if name.isupper() and isinstance(value, str) and "." in value and "/" not in value and "$" not in value
} | {  # and those of the files paths.py makes whole: README.md, CITATION.cff, LICENSE, ...
    value.name
    for name, value in vars(paths).items()
    if name.isupper() and isinstance(value, Path) and ("." in value.name or value.name.isupper())
}
# DVCLive's own files, which the machinery only looks for.
NOT_OURS = {("study_machinery.tracking.dvclive_run", name) for name in ("metrics.json", "dvc.yaml")}
# core/environment.py imports nothing (the noxfile runs it as a file, before the study is
# installed), so it names the one file it reads itself: pyproject.toml.
STANDALONE = "study_machinery.core.environment"
# What a string that names a file looks like: a name and an extension of the files a study holds.
A_FILE_NAME = re.compile(r"^\.?[\w-]+(\.[\w-]+)*\.(json|log|ya?ml|lock|dvc|toml|cff|csv|md|tex|txt|cfg)$")


def strings(name: str) -> set[str]:
    """The strings a module spells, but those of files it only looks for (NOT_OURS)."""
    return {
        node.value
        for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and (name, node.value) not in NOT_OURS
    }


@pytest.mark.parametrize("name", sorted(MODULES))
def test_file_names_are_spelt_only_in_paths(name):
    if name == "study_machinery.core.paths":
        return
    spelt = strings(name) & FILE_NAMES
    assert not spelt, f"{name} spells {sorted(spelt)}: use the names core/paths.py gives them"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_file_the_machinery_names_is_declared_in_paths(name):
    """A new file name goes into core/paths.py first: one spelt in another module fails here."""
    if name in ("study_machinery.core.paths", STANDALONE):
        return
    spelt = {value for value in strings(name) if A_FILE_NAME.match(value)}
    assert not spelt, f"{name} spells {sorted(spelt)}: declare them in core/paths.py, and use its names"
