"""Write tasks/reserved_import_names.yml: the import names a study's package must not take.

A package named like a module the study imports shadows it (`json`, `logging`, `sklearn`),
and the study's first import fails. The names are those of Python's standard library, in
every Python version a study may use (its folder's packages too, such as `test`, which
`sys.stdlib_module_names` leaves out), the top-level modules of every package a generated
study of either framework locks (all dependency groups), and the study's own top-level
folders. Both frameworks', because code may use a package only where it is imported: the
machinery reads PyTorch's versions and device from `sys.modules["torch"]` (core/provenance.py), so
a scikit-learn study whose package is named `torch` would break there. copier.yml includes
the file; tests/test_questions.py checks that it still covers them.

Usage: uvx nox -s reserved_names -- STUDY [STUDY ...]
(STUDY: studies generated with every tracker, `--data 'trackers=[dvclive, mlflow, wandb]'`,
one with each framework (`--data framework=pytorch`), so that the trackers' and both
frameworks' modules are reserved; each uv.lock is installed in a temporary environment, which
takes seconds from uv's cache.)
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "reserved_import_names.yml"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# A study's own top-level folders and its machinery's package.
STUDY = [
    "conf",
    "data",
    "jobs",
    "outputs",
    "paper",
    "results",
    "runs",
    "src",
    "study_machinery",
    "tests",
    "tracking",
]
IMPORT_NAME = re.compile(r"[a-z_][a-z0-9_]*")

TOP_LEVEL = "import json, importlib.metadata as m; print(json.dumps(sorted(m.packages_distributions())))"
# sys.stdlib_module_names, and every module and package in the standard library's folder.
STDLIB = """
import json, os, sys, sysconfig
folder = sysconfig.get_paths()["stdlib"]
names = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
for entry in os.listdir(folder):
    if entry.endswith(".py") or os.path.isfile(os.path.join(folder, entry, "__init__.py")):
        names.add(entry.removesuffix(".py"))
print(json.dumps(sorted(names)))
"""


def stdlib_names(version: str) -> set[str]:
    python = subprocess.run(["uv", "python", "find", version], capture_output=True, text=True, check=True)
    found = subprocess.run([python.stdout.strip(), "-c", STDLIB], capture_output=True, text=True, check=True)
    return set(json.loads(found.stdout))


def locked_top_level_names(study: Path) -> set[str]:
    """Top-level modules of every package in the study's uv.lock, every group included."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "study"
        shutil.copytree(study, copy, ignore=shutil.ignore_patterns(".venv", ".nox", ".git", ".dvc"))
        subprocess.run(["uv", "sync", "--frozen", "--all-groups", "--quiet"], cwd=copy, check=True)
        found = subprocess.run(
            ["uv", "run", "--frozen", "--no-sync", "python", "-c", TOP_LEVEL],
            cwd=copy,
            capture_output=True,
            text=True,
            check=True,
        )
    return set(json.loads(found.stdout))


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    names = set(STUDY)
    for study in map(Path, sys.argv[1:]):
        # The study's own package is installed too: its name is the one the answer chooses.
        own = re.search(r"^import_name: (\S+)$", (study / ".copier-answers.yml").read_text(), re.M)[1]
        names |= locked_top_level_names(study) - {own}
    for version in PYTHONS:
        names |= stdlib_names(version)
    reserved = sorted(name for name in names if IMPORT_NAME.fullmatch(name))
    lines = ["# Written by tasks/reserved_import_names.py; do not edit by hand."]
    lines += ["# The import names a study's package must not take: copier.yml's import_name refuses them."]
    lines += ["reserved_import_names:", "  type: yaml", "  when: false", "  default:"]
    lines += [f"    - {name}" for name in reserved]
    OUTPUT.write_text("\n".join(lines) + "\n")
    print(f"{OUTPUT.name}: {len(reserved)} names")


if __name__ == "__main__":
    main()
