"""Every console block of the docs runs, against a study made the way the docs make it.

A console block is what a newcomer copies into a terminal. Each one in README.md and docs/ is
either run below, in the order a researcher meets them (STEPS; the guide to a port of one's
own, docs/your-own-task.md, by tests/test_own_task.py on a study of its own), or says in an
HTML comment right above it why it cannot run here:

    <!-- not run here: REASON -->

In a block, lines starting with `$ ` are commands and the lines under them what they print; a
block with no `$ ` is all commands. Printed lines must appear in the command's output in that
order (`...` stands for lines left out); only durations, commit hashes and nox's "successful
in" may differ. So a renamed command, option, file or message fails here: the docs cannot
drift from the template. The generated study's own README runs too (its default answers).
"""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO, commit_all, git, snapshot_template
from environment import without_outer

PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.M | re.S)
NOT_RUN = re.compile(r"<!-- not run here: ([^<>]+?) -->\s*\Z")
COMMENT = re.compile(r"\s+#\s.*$")
# What may differ between the docs' output and a run's: how long things took, which commit.
VARYING = [
    (re.compile(r"\b\d+(\.\d+)? s\b"), "<duration> s"),
    (re.compile(r"\bcommit [0-9a-f]{7,40}\b"), "commit <hash>"),
    (re.compile(r"successful in .*"), "successful in <duration>"),
]
ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


@dataclass(frozen=True)
class Command:
    text: str
    shown: tuple[str, ...]  # the output the docs show under it, if any

    @property
    def parts(self) -> list[str]:
        """The commands a line chains with `&&`, without its comment."""
        return [part.strip() for part in COMMENT.sub("", self.text).split(" && ")]


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    commands: tuple[Command, ...]
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def commands_of(body: str) -> tuple[Command, ...]:
    lines = body.splitlines()
    if not any(line.startswith("$ ") for line in lines):  # all commands, or comments alone
        return tuple(Command(line, ()) for line in lines if line.strip() and not line.startswith("#"))
    commands: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"output before the first command: {line!r}"
            commands[-1][1].append(line)
    return tuple(Command(text, tuple(shown)) for text, shown in commands)


def console_blocks() -> list[Block]:
    blocks = []
    for path in PAGES:
        text = path.read_text()
        for match in CONSOLE.finditer(text):
            marker = NOT_RUN.search(text[: match.start()])
            blocks.append(
                Block(
                    page=path.relative_to(REPO).as_posix(),
                    line=text.count("\n", 0, match.start()) + 1,
                    commands=commands_of(match.group(1)),
                    not_run=marker.group(1) if marker else None,
                )
            )
    return blocks


@dataclass
class Study:
    """Where the scenario stands: the folders, the shell's current directory, the environment."""

    work: Path
    env: dict[str, str]
    cwd: Path = field(init=False)
    ran: set[str] = field(default_factory=set)  # the commands run so far, one per `&&` part

    def __post_init__(self):
        self.cwd = self.template

    @property
    def template(self) -> Path:
        return self.work / "template"

    @property
    def study(self) -> Path:
        return self.work / "my-study"

    def file(self, name: str) -> Path:
        return self.study / name

    def fill_in(self, command: str) -> str:
        """The docs' placeholders, filled in: the study's address is its folder here, and the
        template is the snapshot the study was made from."""
        return command.replace("<the study's URL>", f"'{self.study}'").replace(
            "<the template>", f"'{self.template}'"
        )


@dataclass(frozen=True)
class Run:
    """Run the commands of the console block of PAGE that holds BLOCK (those holding ONLY)."""

    page: str
    block: str
    only: tuple[str, ...] = ()
    fails: bool = False  # the docs show it failing, with its message
    answers: bool = False  # copier asks its questions: press Enter at each, as a newcomer would
    cwd: Callable[[Study], Path] | None = None

    def block_of(self, blocks: list[Block]) -> Block:
        matches = [b for b in blocks if b.page == self.page and any(self.block in c.text for c in b.commands)]
        assert len(matches) == 1, f"{self.page}: {len(matches)} console blocks hold {self.block!r}, not one"
        assert matches[0].not_run is None, f"{matches[0]} is marked as not run here, yet STEPS run it"
        return matches[0]

    def resolve(self, blocks: list[Block]) -> list[Command]:
        block = self.block_of(blocks)
        chosen = [c for c in block.commands if not self.only or any(o in c.text for o in self.only)]
        assert chosen and len(chosen) == len(self.only or chosen), f"{self} picks {chosen} of {block}"
        return chosen


def screen(raw: str) -> list[str]:
    """The lines a terminal would show: escapes dropped, each line as its last rewrite left it."""
    lines = []
    for line in ESCAPE.sub("", raw).replace("\r\n", "\n").split("\n"):
        rewrites = [part for part in line.split("\r") if part.strip()]
        lines.append(rewrites[-1] if rewrites else "")
    return lines


def normal(line: str) -> str:
    for pattern, replacement in VARYING:
        line = pattern.sub(replacement, line)
    return line.strip()


def missing_from(output: str, shown: tuple[str, ...]) -> str | None:
    """The first shown line the output lacks where the docs put it, or None.

    Shown lines follow each other in the output as in the docs, except across a `...`. The first
    may come after other lines (what uv installs first depends on its cache), more may follow.
    """
    printed = [normal(line) for line in screen(output)]
    groups: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == "...":
            groups.append([])
        else:
            groups[-1].append(line)
    position = 0
    for group in filter(None, groups):
        wanted, best = [normal(line) for line in group], 0
        for start in range(position, len(printed)):
            found = 0
            while found < len(wanted) and printed[start + found : start + found + 1] == [wanted[found]]:
                found += 1
            if found == len(wanted):
                position = start + found
                break
            best = max(best, found)
        else:
            return group[best]
    return None


def shell(study: Study, command: str, answers: bool, timeout: float = 900) -> tuple[int, str]:
    """Run one line in bash in the study's current directory; follow a `cd` in it."""
    where = study.work / ".cwd"
    where.unlink(missing_ok=True)
    script = f"{study.fill_in(command)}\nstatus=$?\npwd > '{where}'\nexit $status\n"
    argv = ["bash", "-c", script]
    code, output = in_a_terminal(argv, study, timeout) if answers else in_the_background(argv, study, timeout)
    assert code is not None, f"`{command}` still ran after {timeout:g} s:\n{output[-6000:]}"
    if where.exists():
        study.cwd = Path(where.read_text().strip())
    return code, output


def in_the_background(argv: list[str], study: Study, timeout: float) -> tuple[int | None, str]:
    """Run with no terminal and no input; its output and errors as one text, as a terminal shows them."""
    process = subprocess.Popen(
        argv,
        cwd=study.cwd,
        env=study.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that a timeout stops uv, nox and DVC too, not only bash
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output.decode(errors="replace")
    return process.returncode, output.decode(errors="replace")


# questionary switches bracketed paste on while a question waits for its answer, off once answered.
WAITING, ANSWERED = b"\x1b[?2004h", b"\x1b[?2004l"


def in_a_terminal(argv: list[str], study: Study, timeout: float) -> tuple[int | None, str]:
    """Run in a pseudo-terminal, pressing Enter at each of copier's questions once it waits."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        argv,
        cwd=study.cwd,
        env=study.env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    output, answered, quiet_since = b"", -1, time.monotonic()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: every process in it ended
                    break
                if not chunk:
                    break
                output, quiet_since = output + chunk, time.monotonic()
            elif process.poll() is not None and time.monotonic() - quiet_since > 1:
                break  # it ended, and what it printed has been read
            else:
                waiting = output.rfind(WAITING)
                if waiting > max(output.rfind(ANSWERED), answered) and time.monotonic() - quiet_since > 0.5:
                    os.write(leader, b"\r")
                    answered = waiting
        else:
            return None, output.decode(errors="replace")
        return process.wait(timeout=60), output.decode(errors="replace")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(leader)


def check(study: Study, command: Command, page: str, answers: bool = False, fails: bool = False) -> None:
    """Run one command of PAGE: it succeeds (or fails, as the docs show) and prints what they show."""
    code, output = shell(study, command.text, answers)
    study.ran.update(command.parts)
    printed = "\n".join(screen(output))[-6000:]
    assert (code != 0) == fails, f"{page}: `{command.text}` in {study.cwd} exited {code}:\n{printed}"
    if command.shown:
        line = missing_from(output, command.shown)
        assert line is None, f"{page} shows {line!r}, not printed there by `{command.text}`:\n{printed}"


def execute(step: Run, study: Study, blocks: list[Block]) -> None:
    if step.cwd is not None:
        study.cwd = step.cwd(study)
    for command in step.resolve(blocks):
        check(study, command, step.page, step.answers, step.fails)


def take(steps: list, study: Study, blocks: list[Block]) -> None:
    """Each step in turn: the commands of a docs block, or an edit or check between blocks."""
    for step in steps:
        if isinstance(step, Run):
            execute(step, study, blocks)
        else:
            step(study)


# The edits and checks between the docs' commands ------------------------------------------


def the_studys_own_readme_runs(study: Study) -> None:
    """The console blocks of the generated README and of its authors' guide too, those the docs'
    did not run already."""
    for page in ("README.md", "AUTHORING.md"):
        text = study.file(page).read_text()
        commands = [c for match in CONSOLE.finditer(text) for c in commands_of(match.group(1))]
        for command in [c for c in commands if not set(c.parts) <= study.ran]:
            check(study, command, f"the study's {page}")
    assert "uv run python -m study_machinery run variant=baseline/knn seed=3" in study.ran
    assert (study.study / "outputs/small/baseline/knn/seed_3").is_dir(), (
        "where AUTHORING.md says the run writes"
    )
    # The README's walk-through and its use of the method on a data folder, where it says they write.
    assert (study.study / "outputs/smoke/baseline/knn/seed_0/metrics.json").is_file()
    assert (study.study / "outputs/small/proposed/seed_0/metrics.json").is_file()
    assert git(study.study, "status", "--porcelain") == ""


def change_one_ablation_value(study: Study) -> None:
    """docs/pipeline.md's example: one value of one ablation."""
    ablation = study.file("conf/variant/ablation/no_weight_decay.yaml")
    assert "weight_decay: 0.0\n" in ablation.read_text()
    ablation.write_text(ablation.read_text().replace("weight_decay: 0.0\n", "weight_decay: 0.0001\n"))


def undo_the_change(study: Study) -> None:
    git(study.study, "checkout", "--", "conf/variant/ablation/no_weight_decay.yaml")


def add_the_tutorials_ablation(study: Study) -> None:
    """The YAML block of docs/tutorial.md, written where the tutorial says."""
    tutorial = (REPO / "docs/tutorial.md").read_text()
    [config] = re.findall(r"^```yaml\n(.*?)^```", tutorial, re.M | re.S)
    path = "conf/variant/ablation/narrower.yaml"
    assert f"`{path}`" in tutorial
    study.file(path).write_text(config)


def the_tutorials_tables_are_the_readmes(study: Study) -> None:
    """Every table row the tutorial shows is in the study's README after `nox -s record`.

    Digit for digit: the tutorial's numbers come from this test's machine (2 cores, x86-64). On
    a CPU whose BLAS rounds differently the last digits can differ, and so would this check.
    """
    readme = study.file("README.md").read_text().splitlines()
    tutorial = (REPO / "docs/tutorial.md").read_text().splitlines()
    rows = [line for line in tutorial if line.startswith("| ") and not line.startswith("|---")]
    assert len(rows) >= 4
    for row in rows:
        assert row in readme, f"docs/tutorial.md shows {row!r}; the study's README has no such row"


def release_a_new_version_of_the_template(study: Study) -> None:
    (study.template / "template/NEW_IN_0.5.0.md").write_text("A file the next release adds.\n")
    commit_all(study.template, "release 0.5.0")
    git(study.template, "tag", "v0.5.0")


def do_some_work(study: Study) -> None:
    """Uncommitted work, which the update docs commit first: a sentence added to the README."""
    with study.file("README.md").open("a") as readme:
        readme.write("\nA note of my own.\n")


def the_tutorial_committed_everything(study: Study) -> None:
    assert git(study.study, "status", "--porcelain") == "", (
        "the tutorial's `git add` names every changed file"
    )


def the_release_came_in(study: Study) -> None:
    assert study.file("NEW_IN_0.5.0.md").is_file()
    assert "_commit: v0.5.0" in study.file(".copier-answers.yml").read_text()


def the_answer_changed(study: Study) -> None:
    assert "seeds: [0, 1, 2]\n" in study.file("conf/study.yaml").read_text()
    assert "A note of my own." in study.file("README.md").read_text(), "the researcher's work is kept"


def the_search_wrote_its_record_and_choices(study: Study) -> None:
    """The method and both baselines tuned with the same budget, their choices where the configs read them."""
    for variant in ("proposed", "baseline/knn", "baseline/logistic_regression"):
        ledger = json.loads(study.file(f"results/smoke/search/{variant}.json").read_text())
        assert ledger["budget"] == 4 and ledger["scored_on"] == "validation"
        assert study.file(f"conf/tuned/smoke/{variant}.yaml").is_file()
    assert study.file("results/smoke/search.png").is_file()


def reproduce_left_the_study_alone(study: Study) -> None:
    assert git(study.cwd, "status", "--porcelain") == "", "reproduce must leave the working tree alone"


def the_strangers_clone_can_fetch_the_runs(study: Study) -> None:
    """reproduce fetched into its clean room, not the clone; the copy pushed the runs too, so
    a reader can fetch them without re-running anything."""
    clone = study.cwd
    assert clone.parent.name == "stranger" and not (clone / ".dvc/cache").exists()
    code, output = shell(study, "uv run --frozen dvc pull", answers=False)
    assert code == 0, output
    assert (clone / "data/raw/digits.csv.gz").is_file()
    assert (clone / "runs/small/proposed/seed_0/metrics.json").is_file()


def in_the_study(study: Study) -> Path:
    return study.study


def in_a_strangers_folder(study: Study) -> Path:
    (study.work / "stranger").mkdir(exist_ok=True)
    return study.work / "stranger"


# A newcomer's path through the docs: make a study, reproduce it, make mistakes and ablations,
# record and share, let a stranger reproduce it, update it.
STEPS: list[Run | Callable[[Study], None]] = [
    Run("docs/tutorial.md", "copier copy", answers=True),
    Run("docs/tutorial.md", "nox -s reproduce"),
    reproduce_left_the_study_alone,
    # Before anything is pushed again: the stranger finds what the copy pushed.
    Run("docs/reproduce.md", "git clone", cwd=in_a_strangers_folder),
    the_strangers_clone_can_fetch_the_runs,
    Run("docs/configs.md", "model.hiden_units", fails=True, cwd=in_the_study),
    the_studys_own_readme_runs,
    change_one_ablation_value,
    Run("docs/pipeline.md", "status --summary"),
    undo_the_change,
    Run("docs/pipeline.md", "--rerun-all"),
    add_the_tutorials_ablation,
    Run("docs/tutorial.md", "status --summary"),
    Run("docs/tutorial.md", "nox -s record"),
    the_tutorials_tables_are_the_readmes,
    Run("docs/tutorial.md", "git add conf/variant/ablation/narrower.yaml"),
    the_tutorial_committed_everything,
    release_a_new_version_of_the_template,
    Run("docs/update.md", "check-update", cwd=in_the_study),
    do_some_work,
    # Its `nox -s record`: the one of docs/tuning.md below, after the second update.
    Run("docs/update.md", '"my work"', only=("my work", "copier update", "git diff", "latest release")),
    the_release_came_in,
    Run("docs/update.md", "n_seeds=3"),
    the_answer_changed,
    Run("docs/tuning.md", "nox -s tune -- smoke"),
    the_search_wrote_its_record_and_choices,
    # Recorded with the choices and committed, the tier's reproduction runs the search again.
    Run("docs/tuning.md", "reproduce -- smoke"),
]


def test_every_console_block_runs_here_or_says_why_not():
    """Run: each of its commands, here or as part of a line of another block; and a block that
    shows output is run itself, so that its output is checked."""
    # The guide to a port of one's own runs on a study of its own, in tests/test_own_task.py.
    from test_own_task import GUIDE, RENAMING

    blocks = console_blocks()
    assert len(blocks) >= 20
    runs = [step for step in [*STEPS, *GUIDE, *RENAMING] if isinstance(step, Run)]
    done = {part for step in runs for command in step.resolve(blocks) for part in command.parts}
    run_itself = {str(step.block_of(blocks)) for step in runs}
    for block in blocks:
        if any(command.shown for command in block.commands) and block.not_run is None:
            assert str(block) in run_itself, f"{block} shows output, so a step must run it"
        left = [c.text for c in block.commands if not set(c.parts) <= done]
        if block.not_run is None:
            how = "add a step to STEPS, or say why not (this module's docstring says how)"
            assert not left, f"{block}: nothing here runs {left}; {how}"
        else:
            assert left, f"{block} says it is not run here, but STEPS run every command of it"


def test_shell_commands_are_in_console_blocks_at_the_start_of_a_line():
    """What this module reads: a block of another shell language, or one indented in a list,
    would escape it."""
    for path in PAGES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            fence = re.match(r"\s*```\s*(bash|sh|shell|zsh|console)\b", line)
            assert not fence or line.startswith("```console"), (
                f"{path.name}:{number}: write ```console, unindented"
            )


def test_shown_output_may_differ_only_in_durations_hashes_and_left_out_lines():
    printed = "\x1b[1mruns@small: 5 runs executed in 9.0 s, 30 kept\x1b[0m\nmiddle\r\nof commit 1a2b3c4d.\n"
    shown = ("runs@small: 5 runs executed in 17.5 s, 30 kept", "...", "of commit 44330de.")
    assert missing_from(printed, shown) is None
    assert missing_from(printed, ("runs@small: 6 runs executed in 9.0 s, 30 kept",)) is not None
    assert missing_from(printed, ("of commit 44330de.", "middle")) is not None, "in order"
    assert missing_from(printed, shown[:1] + shown[2:]) == "of commit 44330de.", "a line left out needs a ..."
    assert missing_from("progress 10%\rprogress 100%\n", ("progress 100%",)) is None


def a_home_of_its_own(home: Path) -> dict[str, str]:
    """A home for the scenario, so that the local DVC remote's default (~/dvc-storage/...) is
    in the test's folder; uv's cache and Pythons, and pyenv's, stay the machine's."""

    def answer(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()

    home.mkdir()
    env = {"HOME": str(home), "UV_CACHE_DIR": answer("uv", "cache", "dir")}
    env["UV_PYTHON_INSTALL_DIR"] = answer("uv", "python", "dir")
    if shutil.which("pyenv"):
        env["PYENV_ROOT"] = answer("pyenv", "root")
    return env


@pytest.mark.slow
def test_the_docs_commands_run_and_print_what_the_docs_show(tmp_path):
    work = tmp_path / "work"
    snapshot_template(work / "template", "v0.4.0")
    env = without_outer({**os.environ, **a_home_of_its_own(tmp_path / "home"), "TERM": "xterm"})
    study = Study(work, env)
    take(STEPS, study, console_blocks())
