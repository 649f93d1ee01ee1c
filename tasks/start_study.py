"""Copy-time task of the template: make the new study a git repository with its result recorded.

`copier copy` runs this once, in the new study's folder (never on `copier
update`). With --record it also locks the environment, runs the pipeline and
writes the README's results table, so that the first commit holds the study's
main result and `nox -s reproduce` can check it straight away.

Nothing here is fatal to the copy: when a step fails, the study's files stay
in place and the message says how to finish by hand.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMMIT_MESSAGE = "Start the study from the reproducible-research template"


def step(title: str, command: list[str], env: dict[str, str] | None = None) -> bool:
    started = time.perf_counter()
    print(f"  {title} ...", end=" ", flush=True)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        print("failed")
        print("\n".join((result.stdout + result.stderr).strip().splitlines()[-20:]), file=sys.stderr)
        return False
    print(f"done ({time.perf_counter() - started:.1f} s)")
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
    env = {**os.environ, "PYTHONHASHSEED": "0", "DVC_NO_ANALYTICS": "1"}
    # The study gets an environment of its own, whatever environment copier runs in.
    env.pop("VIRTUAL_ENV", None)
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    run = ["uv", "run", "--frozen", "--no-sync"]
    steps = [
        ("lock the dependencies (uv.lock)", ["uv", "lock"]),
        ("create the environment", ["uv", "sync", "--frozen", "--no-default-groups", "--group", "pipeline"]),
        ("put the demo data in data/raw", [*run, "python", "-m", f"{package}.fetch_demo_data", "data/raw"]),
        ("track data/raw with DVC", [*run, "dvc", "add", "--quiet", "data/raw"]),
        ("run the pipeline (dvc repro)", [*run, "dvc", "repro", "--quiet"]),
        ("write the README's results table", [*run, "python", "-m", f"{package}.report"]),
    ]
    for title, command in steps:
        if not step(title, command, env):
            print(
                "  The study is in place without a recorded result: fix the above, then run `nox -s record`."
            )
            return False
    return True


def commit(author: str) -> None:
    name, _, email = author.rpartition(" <")
    identity = []
    if not subprocess.run(["git", "config", "user.email"], capture_output=True, check=False).stdout.strip():
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email.rstrip('>')}"]
    step("stage every file", ["git", "add", "--all"])
    step(
        "make the first commit", ["git", *identity, "commit", "--quiet", "--no-verify", "-m", COMMIT_MESSAGE]
    )


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
    if args.record:
        record(args.import_name)
    has_commit = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"], capture_output=True, check=False
    )
    if toplevel is None or (toplevel == here and has_commit.returncode):
        commit(args.author)
    elif toplevel == here:
        print("The repository already has commits: review the new files and commit them yourself.")


if __name__ == "__main__":
    main()
