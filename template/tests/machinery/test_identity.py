"""The code part of a run's identity: what the research code does counts, not how it is laid out.

Formatting and comments leave every run current. A changed value, expression or docstring, a
renamed module, or a file that no longer parses makes every run stale (runs/identity.py). Each test
edits a copy of the research package, so that it holds for any research code.
"""

import importlib.util
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from study_machinery import contract
from study_machinery.core import paths
from study_machinery.runs import identity

RESEARCH = paths.ROOT / "src" / contract.PACKAGE
# ruff comes with the lint group (`uv run` installs it); `nox -s tests` installs no linter.
HAS_RUFF = importlib.util.find_spec("ruff") is not None
ADDED = "VALUE_ADDED_BY_TEST"


@pytest.fixture
def package(tmp_path) -> Path:
    """A copy of the research package, to edit."""
    copy = tmp_path / contract.PACKAGE
    shutil.copytree(RESEARCH, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def a_module(package: Path) -> Path:
    """The package's largest Python file."""
    return max(sorted(package.rglob("*.py")), key=lambda path: path.stat().st_size)


def append(path: Path, code: str) -> None:
    path.write_bytes(path.read_bytes() + f"\n{code}\n".encode())


def ruff_format(package: Path, *options: str) -> None:
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", *options, str(package)], check=True)


def with_comments(path: Path) -> None:
    """Add a comment and a blank line after every statement of a Python file, and a comment at its end."""
    with tokenize.open(path) as file:
        encoding, source = file.encoding, file.read()
    # A NEWLINE token ends a statement, outside any bracket or string.
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    ends = {token.start[0] for token in tokens if token.type == tokenize.NEWLINE}
    lines = io.StringIO(source).readlines()
    for row in ends & set(range(1, len(lines) + 1)):
        lines[row - 1] = lines[row - 1].removesuffix("\n") + "  # a comment added by a test\n\n"
    path.write_text("".join(lines) + "\n# A comment added by a test.\n", encoding=encoding)


def test_formatting_and_comments_leave_the_code_hash_as_it_is(package):
    if HAS_RUFF:
        # ruff format can also tidy a docstring's whitespace, which a program can read (so it
        # counts): start from the code as the study's own `ruff format` leaves it.
        ruff_format(package, "--config", str(paths.ROOT / "pyproject.toml"))
    before = identity.code_hash(package)
    for path in package.rglob("*.py"):
        with_comments(path)
    if HAS_RUFF:
        # Laid out another way: short lines, single quotes, no magic trailing commas.
        ruff_format(
            package,
            "--isolated",
            "--line-length=40",
            "--config=format.quote-style='single'",
            "--config=format.skip-magic-trailing-comma=true",
        )
    assert identity.code_hash(package) == before


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (f"{ADDED} = 1", f"{ADDED} = 2"),
        (f"{ADDED} = 1", f"{ADDED} = 1.0"),
        (f"{ADDED} = 1 - 2", f"{ADDED} = 2 - 1"),
        (f"{ADDED} = 'a b'", f"{ADDED} = 'a  b'"),
        ('def added_by_test():\n    """One."""', 'def added_by_test():\n    """Two."""'),
    ],
    ids=["a constant", "a float for an int", "an expression", "a string's spaces", "a docstring"],
)
def test_a_change_to_what_the_code_does_changes_the_code_hash(package, first, second):
    module = a_module(package)
    original = module.read_bytes()
    hashes = [identity.code_hash(package)]
    for code in (first, second):
        module.write_bytes(original)
        append(module, code)
        hashes.append(identity.code_hash(package))
    assert len(set(hashes)) == 3


def test_a_renamed_module_changes_the_code_hash(package):
    before = identity.code_hash(package)
    module = a_module(package)
    module.rename(module.with_name(f"renamed_by_test_{module.name}"))
    assert identity.code_hash(package) != before


def test_a_file_that_does_not_parse_counts_by_its_bytes(package):
    before = identity.code_hash(package)
    module = a_module(package)
    append(module, "def broken_by_test(:")
    broken = identity.code_hash(package)
    append(module, "# A comment added by a test.")
    assert len({before, broken, identity.code_hash(package)}) == 3


def test_any_other_file_counts_by_its_bytes(package):
    table = package / "table_added_by_test.yaml"
    table.write_text("value: 1\n")
    before = identity.code_hash(package)
    table.write_text("value: 1  # a comment\n")
    assert identity.code_hash(package) != before
