"""The two homes of the study and the one contract between them.

Your research code (src/<package>/) imports nothing of the machinery, and the machinery
(src/study_machinery/) reaches your code only through contract.py, using only the names
its docstring lists. The conventions the machinery relies on hold, and its tests ask
tests/conftest.py for the fixtures the contract names and no other.
"""

import ast
import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from study_machinery import contract
from study_machinery.core import paths
from study_machinery.core.study import METHOD, load_study, variants
from study_machinery.storage.fetch import check_module

RESEARCH = paths.ROOT / "src" / contract.PACKAGE
MACHINERY = Path(contract.__file__).parent
# What the machinery may use of the research code: (module, name), all in contract.py.
CONTRACT = {(f"{contract.PACKAGE}.config", "register_configs"), (f"{contract.PACKAGE}.experiment", "run")}
MACHINERY_TESTS = Path(__file__).parent
YOUR_CONFTEST = paths.ROOT / "tests" / "conftest.py"
# pytest's own fixtures: any test may ask for them, so the contract need not name them.
PYTEST_FIXTURES = {
    "capfd",
    "caplog",
    "capsys",
    "monkeypatch",
    "pytestconfig",
    "recwarn",
    "request",
    "tmp_path",
    "tmp_path_factory",
}


def imports(path: Path, package: str) -> set[tuple[str, str]]:
    """(module, name) for every import of `package` or its modules in a file, relative ones resolved."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {(alias.name, "*") for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parent = path.parent.name if path.parent != paths.ROOT else ""
                module = ".".join(filter(None, [parent, module]))
            found |= {(module, alias.name) for alias in node.names}
    return {(module, name) for module, name in found if module.split(".")[0] == package}


@pytest.mark.parametrize("path", sorted(RESEARCH.rglob("*.py")), ids=lambda path: path.name)
def test_the_research_code_imports_nothing_of_the_machinery(path):
    assert not imports(path, "study_machinery"), f"{path} imports the machinery"


@pytest.mark.parametrize("path", sorted(MACHINERY.rglob("*.py")), ids=lambda path: path.name)
def test_the_machinery_uses_the_research_code_only_through_the_contract(path):
    used = imports(path, contract.PACKAGE)
    if path.name == "contract.py":
        assert used == CONTRACT
    else:
        assert not used, f"{path} imports {sorted(used)}: reach the research code through contract.py"


def test_the_contract_names_every_name_it_uses():
    for module, name in CONTRACT:
        assert f"`{module}.{name}(" in contract.__doc__


def test_the_raw_data_fetcher_is_a_module_of_the_research_code_with_an_entry_point():
    """conf/study.yaml's fetch_raw_data, what `study_machinery fetch` (CI) runs, if it names one."""
    module = load_study().fetch_raw_data
    if module is None:
        return  # `fetch` pulls data/raw from the DVC remote
    check_module(module, "conf/study.yaml")
    parts = module.split(".")[1:]
    file = RESEARCH.joinpath(*parts).with_suffix(".py") if parts else RESEARCH / "__main__.py"
    assert file.is_file(), f"conf/study.yaml: fetch_raw_data names {module}; {paths.shown(file)} is missing"
    assert '__name__ == "__main__"' in file.read_text(encoding="utf-8"), f"{file} has no entry point"


def test_a_run_config_has_the_keys_the_machinery_reads(compose_config, smoke_overrides):
    contract.register_configs()
    assert isinstance(smoke_overrides, list) and all(isinstance(item, str) for item in smoke_overrides)
    for overrides in ([], smoke_overrides):
        config = OmegaConf.to_object(compose_config(*overrides))
        assert dataclasses.is_dataclass(config)
        assert isinstance(config.variant, str) and isinstance(config.scale, str)
        assert isinstance(config.seed, int) and isinstance(config.threads, int)
    assert compose_config(*smoke_overrides, with_hydra=True).hydra.runtime.choices.variant == METHOD


# The groups whose files change a run rather than set its defaults: variants and scales have
# the last word over the values, the search's choices (tuned/) are chosen values; and folders
# that are no group of a run's config at all (the executors, the search spaces).
NOT_DEFAULTS = {"variant", "scale", "tuned", *paths.NOT_RUN_GROUPS}


def _has_default(field: dataclasses.Field) -> bool:
    no_value = (dataclasses.MISSING, "???")
    return field.default not in no_value or field.default_factory is not dataclasses.MISSING


def test_a_value_is_set_in_one_place(compose_config):
    """The schema (your config.py) gives each key its type and meaning, conf/ its value: a
    default in the schema that a file under conf/ sets too is one fact twice, and as the file
    always wins, the schema's value can only mislead a reader."""
    contract.register_configs()
    conf = paths.CONF_DIR
    option_files = [(None, conf / "config.yaml")] + [
        (folder.name, option)
        for folder in sorted(
            path for path in conf.iterdir() if path.is_dir() and path.name not in NOT_DEFAULTS
        )
        for option in sorted(folder.glob("*.yaml"))
    ]
    twice = []
    for group, option in option_files:
        config = compose_config(*([f"{group}={option.stem}"] if group else []))
        if group is not None and group not in config:
            continue  # not a group of the run's config
        schema = OmegaConf.get_type(config[group] if group else config)
        if not dataclasses.is_dataclass(schema):
            continue
        values = yaml.safe_load(option.read_text(encoding="utf-8")) or {}
        twice += [
            f"{paths.shown(option)}: {field.name} (also {schema.__name__}'s default)"
            for field in dataclasses.fields(schema)
            if field.name in values and _has_default(field)
        ]
    assert not twice, "set in the schema and in conf/; keep the value in conf/ only: " + "; ".join(twice)


def test_the_method_is_a_variant():
    assert METHOD in variants(), f"conf/variant/{METHOD}.yaml is the method every variant is compared with"


def _names(node: ast.expr) -> set[str]:
    """The names in a decorator's first argument: "a, b", ("a", "b") or ["a", "b"]."""
    value = ast.literal_eval(node)
    return set(re.split(r"\s*,\s*", value.strip())) if isinstance(value, str) else set(value)


def fixtures(path: Path) -> tuple[set[str], set[str]]:
    """The fixtures a test file defines, and those its tests and fixtures ask for.

    Asked for: a test's or fixture's parameters (but those @pytest.mark.parametrize gives),
    @pytest.mark.usefixtures and request.getfixturevalue("name").
    """
    defined, asked = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called.endswith("usefixtures"):
                asked |= {arg.value for arg in node.args if isinstance(arg, ast.Constant)}
            elif called.endswith(".getfixturevalue") and node.args and isinstance(node.args[0], ast.Constant):
                asked.add(node.args[0].value)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decorators = [(ast.unparse(d.func if isinstance(d, ast.Call) else d), d) for d in node.decorator_list]
        given = set()
        for name, decorator in decorators:
            if name.endswith("fixture"):
                keywords = {keyword.arg: keyword.value for keyword in getattr(decorator, "keywords", [])}
                defined.add(ast.literal_eval(keywords["name"]) if "name" in keywords else node.name)
            elif name.endswith("parametrize"):
                keywords = {keyword.arg: keyword.value for keyword in decorator.keywords}
                given |= _names(decorator.args[0] if decorator.args else keywords["argnames"])
        if node.name.startswith("test") or any(name.endswith("fixture") for name, _ in decorators):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            asked |= {argument.arg for argument in arguments} - given - {"self"}
    return defined, asked


def contract_fixtures() -> list[str]:
    """The fixtures contract.py's docstring lists: "- `name`: ..." after it says which they are."""
    after = re.split(r"use\s+these\s+fixtures\s+of\s+tests/conftest\.py", contract.__doc__)[1]
    return re.findall(r"^- `(\w+)`:", after.split("\n\n")[1], re.MULTILINE)


def test_the_machinery_s_tests_ask_your_conftest_only_for_the_fixtures_the_contract_names():
    """A new assumption about the research code cannot come in through a fixture unlisted."""
    defined, asked = set(), {}
    for path in sorted(MACHINERY_TESTS.glob("*.py")):
        own, wanted = fixtures(path)
        defined |= own
        for name in wanted:
            asked.setdefault(name, []).append(path.name)
    outside = {name: files for name, files in asked.items() if name not in defined | PYTEST_FIXTURES}
    listed = contract_fixtures()
    unlisted = {name: files for name, files in outside.items() if name not in listed}
    assert not unlisted, f"tests/machinery/ asks for {unlisted}: name each in contract.py, and what it gives"
    assert sorted(outside) == sorted(listed), "contract.py names a fixture no machinery test uses"


@pytest.mark.parametrize("name", contract_fixtures())
def test_your_conftest_provides_each_fixture_the_contract_names(name):
    defined, _ = fixtures(YOUR_CONFTEST)
    assert name in defined, f"tests/conftest.py must provide `{name}`, as contract.py describes it"
