"""The two homes of the study and the one contract between them.

Your research code (src/<package>/) imports nothing of the machinery, and the machinery
(src/study_machinery/) reaches your code only through contract.py, using only the names
its docstring lists. The conventions the machinery relies on hold.
"""

import ast
import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from study_machinery import contract, paths
from study_machinery.study import METHOD, variants

RESEARCH = paths.ROOT / "src" / contract.PACKAGE
MACHINERY = Path(contract.__file__).parent
# What the machinery may use of the research code: (module, name), all in contract.py.
CONTRACT = {(f"{contract.PACKAGE}.config", "register_configs"), (f"{contract.PACKAGE}.experiment", "run")}


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


def test_a_run_config_has_the_keys_the_machinery_reads(compose_config):
    contract.register_configs()
    config = OmegaConf.to_object(compose_config())
    assert dataclasses.is_dataclass(config)
    assert isinstance(config.variant, str) and isinstance(config.scale, str)
    assert isinstance(config.seed, int) and isinstance(config.threads, int)


def test_the_method_is_a_variant():
    assert METHOD in variants(), f"conf/variant/{METHOD}.yaml is the method every variant is compared with"
