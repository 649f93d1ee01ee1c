"""The data and the runs to the study's DVC remote: `python -m study_machinery push` (`nox -s push`).

It runs `dvc push` and says in one line what happened. A push that the network cuts off makes
DVC print one ERROR line per object it could not send (124 for the demo's runs, measured
against an S3 server behind a link dropped mid-push); this says how many failed, why, and what
to do, and keeps DVC's whole output in .dvc/tmp/push.log, which git ignores. What reached the
remote stays there: the next push sends only the rest.
"""

import re
import subprocess
import sys

from study_machinery.core import paths
from study_machinery.core.errors import StudyError

# The lines of DVC 3 this reads, e.g.
#   ERROR: failed to transfer '3e5dd1b8...' - Could not connect to the endpoint URL: "http://..."
#   ERROR: failed to push data to the cloud - 55 files failed to upload
#   ERROR: unexpected error - Connection was closed before we received a valid response ...
TRANSFER = re.compile(r"^ERROR: failed to transfer '[^']*' - (?P<why>.*)$")
UPLOADS = re.compile(r"^ERROR: failed to push data to the cloud - (?P<count>\d+) files? failed to upload")
ERROR = re.compile(r"^ERROR: (?:unexpected error - )?(?P<why>.*)$")
# An object's address names the endpoint and then the object: the endpoint says enough.
OBJECT_URL = re.compile(r"(?P<endpoint>\b[a-z][a-z0-9+.-]*://[^/\s\"']+)/[^\s\"']*")


def remote(name: str | None) -> str:
    """The remote as a reader knows it: `NAME (URL)`."""
    from dvc.config import Config, ConfigError

    try:
        config = Config(dvc_dir=str(paths.ROOT / ".dvc"))
        name = name or config["core"].get("remote")
        url = config["remote"].get(name, {}).get("url") if name else None
    except ConfigError as error:
        raise StudyError(f".dvc/config: {error}") from None
    if name is None:
        raise StudyError(
            "this study has no default DVC remote: set one with "
            "`uv run dvc remote add --default storage URL`."
        )
    if url is None:
        raise StudyError(
            f"no DVC remote named {name!r} in .dvc/config (`uv run dvc remote list` shows them)."
        )
    return f"{name} ({url})"


def outcome(output: str) -> tuple[int, str | None, bool]:
    """From DVC's output: how many objects it could not send, the first cause, and whether it gave up."""
    causes, uploads, others = [], [0], []
    for line in output.splitlines():
        if match := TRANSFER.match(line):
            causes.append(match["why"])
        elif match := UPLOADS.match(line):
            uploads.append(int(match["count"]))
        elif match := ERROR.match(line):
            others.append(match["why"])
    cause = (causes or others or [None])[0]
    cause = cause and OBJECT_URL.sub(r"\g<endpoint>", cause).rstrip(".")
    gave_up = "\nERROR: unexpected error" in f"\n{output}"
    return max(len(causes), *uploads), cause, gave_up


def summary(output: str, where: str, failed: bool) -> str:
    """One line for a push: what DVC sent, or how many objects it could not send, why, and what next."""
    again = "run `uvx nox -s push` again"
    log = f"DVC's whole output: {paths.shown(paths.PUSH_LOG)}"
    if not failed:
        said = [line.strip() for line in output.splitlines() if line.strip()]
        return f"pushed to the DVC remote {where}: {said[-1] if said else 'done'}"
    count, cause, gave_up = outcome(output)
    cause = cause or "DVC gave no reason"
    objects = f"{count} object{'s' if count != 1 else ''}"
    rest = f"What was sent stays there: once the remote answers, {again} and it sends only the rest ({log})."
    if count and gave_up:
        # DVC gives up at its first failure of a kind it does not expect: it never says how
        # many objects it had still to send.
        return f"the push to the DVC remote {where} stopped when {objects} could not be sent: {cause}. {rest}"
    if count:
        return f"{objects} could not be sent to the DVC remote {where}: {cause}. {rest}"
    return (
        f"the DVC remote {where} did not take the push: {cause}. Check its address and credentials "
        f"(README.md, 'Reproduce the main result'), then {again} ({log})."
    )


def push(targets: list[str], remote_name: str | None = None, jobs: int | None = None) -> str:
    """`dvc push` for `targets` (all when empty); its summary, or a StudyError with it."""
    where = remote(remote_name)
    command = [sys.executable, "-m", "dvc", "push", *targets]
    command += ["--remote", remote_name] if remote_name else []
    command += ["--jobs", str(jobs)] if jobs else []
    print(f"pushing to the DVC remote {where} ...", flush=True)
    done = subprocess.run(command, cwd=paths.ROOT, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    paths.PUSH_LOG.parent.mkdir(parents=True, exist_ok=True)
    paths.PUSH_LOG.write_text(output, encoding="utf-8")
    failed = done.returncode != 0
    said = summary(output if failed else done.stdout, where, failed)
    if failed:
        raise StudyError(said)
    return said
