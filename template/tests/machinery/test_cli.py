"""One command line for the machinery: help everywhere, usage mistakes exit 2, errors are one
line on stderr, and importing a module does nothing."""

import re
import subprocess
import sys

import pytest

from study_machinery.cli import build_parser
from study_machinery.core import paths
from study_machinery.core.study import load_study, variants

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def machinery(*args: str, cwd=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "study_machinery", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def test_help_lists_every_command():
    result = machinery("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = machinery(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m study_machinery {command}")


@pytest.mark.parametrize(
    "args", [[], ["no-such-command"], ["aggregate"], ["aggregate", "no_such_tier"], ["verify", "--kep"]]
)
def test_a_usage_mistake_exits_2_with_the_usage_on_stderr(args):
    result = machinery(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m study_machinery")
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_an_error_is_one_line_on_stderr(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# My study\n")
    result = machinery("readme", "--readme", "README.md", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {readme} needs exactly one '<!-- results:begin -->' line followed "
        "by one '<!-- results:end -->' line around the results; nothing was changed.\n"
    )
    assert readme.read_text() == "# My study\n"


# Run in a fresh process with the module names as arguments: imports each, says which misbehaved.
IMPORT_EACH = """
import contextlib, importlib, io, sys
from hydra.core.config_store import ConfigStore
for name in sys.argv[1:]:
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        importlib.import_module(name)
    assert not output.getvalue(), "importing " + name + " printed " + repr(output.getvalue())
    registered = ConfigStore.instance().repo.get("config_schema.yaml")
    assert not registered, "importing " + name + " registered configs"
"""


def test_importing_the_modules_does_nothing():
    """No output, and no config registered with Hydra: the modules only define things.

    Every module but __main__ (the command line itself), in one process, in name order.
    """
    modules = sorted(path.stem for path in paths.ROOT.glob("src/study_machinery/[!_]*.py"))
    names = ["study_machinery", *(f"study_machinery.{module}" for module in modules)]
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""


def test_status_sums_up_each_tier():
    result = machinery("status", "smoke", "--summary")
    assert result.returncode == 0, result.stderr
    study = load_study()
    total = len(variants()) * len(study.tiers["smoke"].seeds)
    assert re.fullmatch(rf"runs@smoke: \d+ of {total} runs to execute( \(.*\))?\n", result.stdout)


def test_a_seed_out_of_range_is_one_line(smoke_overrides, tmp_path):
    result = machinery("run", f"hydra.run.dir={tmp_path}", *smoke_overrides, "seed=-1")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "error: seed=-1: a seed is a whole number from 0 to 2**32 - 1."
    assert "Traceback" not in result.stderr
