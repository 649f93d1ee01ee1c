"""The import graph of a study's code by subpackage, as docs/layout.md draws it.

Read from the template's files: every import, those inside functions too. Each line is one
part of a study (its research package, the machinery's top modules and subpackages) and the
parts it imports; every arrow points to a line above its own, so no import goes back up.
`python tasks/import_graph.py` prints the drawing for docs/layout.md, where
tests/test_generate.py checks it against the code.
"""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MACHINERY = REPO / "template" / "src" / "study_machinery"
RESEARCH = "src/<package>/"
ARROW = "──►"
PLACEHOLDER = "research_package"  # what contract.py.jinja's `{{ import_name }}` reads as here


def part_of(module: str) -> str:
    """study_machinery.runs.plan -> runs; study_machinery.cli -> cli.py."""
    name = module.split(".")[1] if "." in module else "__init__"
    return name if (MACHINERY / name).is_dir() else f"{name}.py"


def imports() -> dict[str, set[str]]:
    """Each part of the study, and the other parts it imports."""
    # The research code, in both frameworks' files (Jinja in some: its imports are read as lines).
    research = [path for path in MACHINERY.parent.glob("*import_name*/*") if path.is_file()]
    uses = re.compile(r"^\s*(from|import)\s+study_machinery\b", re.M)
    machinery_used = any(uses.search(path.read_text(encoding="utf-8")) for path in research)
    graph = {RESEARCH: {"the machinery"} if machinery_used else set()}
    for path in sorted(MACHINERY.rglob("*")):
        if path.suffix not in (".py", ".jinja") or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(MACHINERY)
        part = relative.parts[0] if len(relative.parts) > 1 else relative.name.removesuffix(".jinja")
        found = graph.setdefault(part, set())
        text = path.read_text(encoding="utf-8").replace("{{ import_name }}", PLACEHOLDER)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                named = [f"{node.module}.{alias.name}" for alias in node.names]
                modules = named if node.module == "study_machinery" else [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.split(".")[0] == "study_machinery":
                    found.add(part_of(module))
                elif module.split(".")[0] == PLACEHOLDER:
                    found.add(RESEARCH)
        found.discard(part)
    if not graph.get("__init__.py"):
        graph.pop("__init__.py", None)  # the package's marker, importing nothing: not drawn
    return graph


def order_in_the_docs() -> list[str]:
    """The subpackages in the order docs/layout.md's map lists them."""
    tree = (REPO / "docs" / "layout.md").read_text(encoding="utf-8").split("```\n", 2)[1]
    return re.findall(r"^    (\w+)/ ", tree, re.M)


def draw() -> str:
    """The lines of the drawing: a part, then those it imports, each drawn above it."""
    graph = imports()
    preferred = [RESEARCH, "contract.py", *order_in_the_docs()]
    rank = {name: preferred.index(name) if name in preferred else len(preferred) for name in graph}
    drawn: list[str] = []
    while len(drawn) < len(graph):
        ready = [name for name in graph if name not in drawn and graph[name] <= set(drawn)]
        if not ready:
            left = sorted(set(graph) - set(drawn))
            raise SystemExit(f"these parts import one another in a circle (or the machinery): {left}")
        drawn.append(min(ready, key=lambda name: (rank[name], name)))
    width = max(map(len, drawn)) + 2
    return "\n".join(
        f"{name:<{width}}{ARROW} {', '.join(sorted(graph[name], key=drawn.index)) or 'nothing'}"
        for name in drawn
    )


if __name__ == "__main__":
    print(draw())
