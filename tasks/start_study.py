"""Copy-time task of the template: make the new study a git repository with its result recorded.

`copier copy` runs this once, in the new study's folder (never on `copier
update`). It commits the study as copied. With --record it then locks the environment,
runs the pipeline, writes the README's results table, pushes the data and runs to the DVC
remote when it can be reached, and commits the study's main result, so that
`nox -s reproduce` can check it straight away, here or in a clone. The runs come after the
first commit: they record it as theirs, and DVCLive (a tracker a study may choose) refuses a
repository without one.

Nothing here is fatal to the copy: when a step fails, the study's files stay
in place and the message says how to finish by hand.
"""

import argparse
import os
import runpy
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from environment import without_outer

COMMIT_MESSAGE = "Start the study from the reproducible-research template"
RESULT_MESSAGE = "Record the first result"
PUSH_SECONDS = 120
NOT_RECORDED = "  The study is in place without a recorded result: fix the above, then run `nox -s record`."


def step(
    title: str,
    command: list[str],
    env: dict[str, str] | None = None,
    quiet: bool = False,
    timeout: float | None = None,
    unexplained: str = "",
) -> bool:
    """Run one step, showing DVC's stages as they start; on failure, the end of its output.

    A quiet step that fails shows only its last error line (the machinery's `error:` or DVC's
    `ERROR:`), or `unexplained` when it printed none: the caller has another way.
    A step given a timeout is stopped after that many seconds, and fails.
    """
    started = time.perf_counter()
    print(f"  {title} ...", end="", flush=True)
    output, stages = [], 0
    late = threading.Event()
    # A session of its own, so that a timeout stops the whole group (uv, and the dvc it runs).
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    ) as process:

        def stop() -> None:
            late.set()
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGKILL)
            else:  # Windows: no process groups
                process.kill()

        timer = threading.Timer(timeout, stop) if timeout else None
        try:
            if timer:
                timer.daemon = True
                timer.start()
            for line in process.stdout:
                output.append(line.rstrip())
                if line.startswith("Running stage"):
                    stages += 1
                    print(f"\n    {line.strip()}", end="", flush=True)
        finally:
            if timer:
                timer.cancel()
    if process.returncode:
        if not quiet:
            print(" failed")
            print("\n".join(output[-20:]), file=sys.stderr)
        else:
            errors = [line for line in output if line.startswith(("error:", "ERROR"))]
            print(f" not possible{f' within {timeout:g} s' if late.is_set() else ''}")
            said = errors[-1] if errors else unexplained
            if said:
                print(
                    textwrap.fill(
                        said, 100, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
                    )
                )
        return False
    print(f"{chr(10) + '   ' if stages else ''} done ({time.perf_counter() - started:.1f} s)", flush=True)
    return True


def git_toplevel() -> Path | None:
    result = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    return Path(result.stdout.strip()).resolve() if result.returncode == 0 else None


def record(package: str) -> bool:
    if shutil.which("uv") is None:
        print("  uv is not on PATH, so no result was recorded: install uv, then run `nox -s record`.")
        return False
    # The study gets an environment of its own, whatever environment copier runs in.
    # With what every process that runs research code is started with (the study's own list).
    environment = runpy.run_path("src/study_machinery/core/environment.py")
    env = {**without_outer(os.environ), **environment["RUN_ENVIRONMENT"]}
    # The pipeline starts a dozen Python processes; with cached bytecode the
    # second import of scikit-learn takes 1 s instead of 2.5 s.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run = ["uv", "run", "--frozen", "--no-sync"]
    # With the trackers' packages when the study has chosen any, so the first runs log to them.
    groups = environment["dependency_groups"](Path.cwd())
    sync = ["uv", "sync", "--no-default-groups", *(f"--group={group}" for group in groups)]
    # From the packages uv already has, when they are enough (a fraction of a second,
    # and it works without a network); otherwise from the package index.
    from_cache = step("lock the dependencies from uv's cache", [*sync, "--offline"], env, quiet=True)
    if not from_cache and not step("lock the dependencies from the package index", sync, env):
        print(NOT_RECORDED)
        return False
    # The new environment has no bytecode yet. While DVC hashes the data on one core, the
    # other compiles what the pipeline's processes import (scikit-learn, scipy.stats, statsmodels
    # and its pandas, matplotlib, Hydra): each then imports them in about 1 s rather than 3 s.
    libraries = "hydra.compose, matplotlib.pyplot, scipy.stats, statsmodels.stats.multitest"
    warm = f"import {libraries}, {package}.experiment"
    warming = subprocess.Popen(
        [*run, "python", "-c", warm], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    steps = [
        ("put the demo data in data/raw, tracked by DVC", [*run, "python", "-m", "study_machinery", "fetch"]),
        ("run the pipeline (dvc repro)", [*run, "dvc", "repro"]),
        ("write the README's results section", [*run, "python", "-m", "study_machinery", "readme"]),
    ]
    try:
        for title, command in steps:
            if not step(title, command, env):
                print(NOT_RECORDED)
                return False
    finally:
        warming.wait()
    # So that a clone elsewhere can fetch the data: what `nox -s reproduce` does in a fresh clone.
    # The demo's data and runs are under 1 MB: a remote that takes minutes is not answering.
    push = [*run, "python", "-m", "study_machinery", "push"]
    silent = "The DVC remote did not answer: check its address, then push with `uvx nox -s push`."
    step(
        "push the data and the runs to the DVC remote",
        push,
        env,
        quiet=True,
        timeout=PUSH_SECONDS,
        unexplained=silent,
    )
    return True


def commit(author: str, title: str, message: str) -> None:
    name, _, email = author.rpartition(" <")
    identity = []
    if not subprocess.run(["git", "config", "user.email"], capture_output=True, check=False).stdout.strip():
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email.rstrip('>')}"]
    step("stage every file", ["git", "add", "--all"])
    step(title, ["git", *identity, "commit", "--quiet", "--no-verify", "-m", message])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--import-name", required=True)
    parser.add_argument("--author", required=True)
    parser.add_argument("--record", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    here = Path.cwd().resolve()
    toplevel = git_toplevel()
    if toplevel is not None and toplevel != here:
        print(f"Inside the git repository {toplevel}: not creating another one, and not committing.")
    elif toplevel is None:
        step("create a git repository", ["git", "init", "--quiet"])
        subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], check=False)
    has_commit = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True, check=False
    )
    ours = toplevel is None or (toplevel == here and has_commit.returncode)
    if ours:
        commit(args.author, "commit the study as copied", COMMIT_MESSAGE)
    elif toplevel == here:
        print("The repository already has commits: review the new files and commit them yourself.")
    if args.record and record(args.import_name) and ours:
        commit(args.author, "commit the first result", RESULT_MESSAGE)


if __name__ == "__main__":
    main()
