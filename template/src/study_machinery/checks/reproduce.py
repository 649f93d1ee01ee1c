"""Re-execute a recorded tier of the main result in a clean room and compare, metric by metric.

`python -m study_machinery reproduce [TIER]` (what `nox -s reproduce -- [TIER]` runs;
the main tier of conf/study.yaml by default):
1. clones the last commit into a temporary folder, so uncommitted edits cannot
   leak in and nothing in the study (results, DVC cache) is touched;
2. installs the committed lock file into a fresh environment there;
3. restores the DVC-tracked inputs from this study's DVC cache or remote;
4. runs the tier's pipeline with `dvc repro --force` (a cache hit is not a
   reproduction);
5. compares the re-run's results/TIER/metrics.json with the committed one within
   the tolerances in conf/study.yaml, and its comparisons.json too: each difference
   from the method and its interval within the metric's tolerance, and each claim's
   verdict (better, worse, no clear difference, in the metric's declared direction) the
   same; prints both tables, and exits 0 only if every check passes and every claim holds.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from study_machinery.checks.compare import compare, compare_claims, render, render_claims
from study_machinery.core import paths
from study_machinery.core.environment import run_environment
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study
from study_machinery.storage.verify import corrupted, tracked_hashes
from study_machinery.tracking.settings import SWITCH

# What a command started from nox or another virtual environment inherits and must not pass on:
# with them, uv would install the clean room's packages into that environment, or use its Python.
OUTER_ENVIRONMENT = {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON"}


class ReproduceError(StudyError):
    """Something stops the reproduction before any comparison can be made."""


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _git(root: Path, *args: str) -> str:
    result = _run(["git", *args], root)
    if result.returncode:
        raise ReproduceError(f"`git {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


def study_root() -> Path:
    result = _run(["git", "rev-parse", "--show-toplevel"], Path.cwd())
    if result.returncode:
        raise ReproduceError(
            "this folder is not in a git repository; reproduce checks the study's last commit."
        )
    return Path(result.stdout.strip())


def _committed(path: Path) -> str:
    """A path of the study as `git show COMMIT:PATH` names it."""
    return path.relative_to(paths.ROOT).as_posix()


def recorded_result(root: Path, commit: str, tier: str, name: str = paths.SUMMARY) -> dict:
    """A file of the tier's committed result: metrics.json, or comparisons.json (the claims)."""
    recorded = _committed(paths.results_dir(tier) / name)
    result = _run(["git", "show", f"{commit}:{recorded}"], root)
    if result.returncode:
        raise ReproduceError(
            f"the last commit has no {recorded}: record the tier with "
            f"`uvx nox -s record`, then commit results/ and dvc.lock."
        )
    return json.loads(result.stdout)


def tiers_of(root: Path, commit: str) -> tuple[str, list[str]]:
    """The main tier and every tier of the committed conf/study.yaml."""
    result = _run(["git", "show", f"{commit}:{_committed(paths.STUDY_FILE)}"], root)
    study = yaml.safe_load(result.stdout) if result.returncode == 0 else {}
    return study.get("main_tier", ""), list(study.get("tiers", {}))


def clean_env() -> dict[str, str]:
    # The clone gets an environment of its own, not the one this process runs in.
    env = {key: value for key, value in os.environ.items() if key not in OUTER_ENVIRONMENT}
    # The clean room starts a dozen Python processes: cached bytecode saves each a second or more.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # What takes effect only before Python starts, for every process of the clean room.
    env.update(run_environment())
    # The clone's runs are checked, then deleted: not logged to any tracker (tracking/).
    env[SWITCH] = "off"
    return env


def _step(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> int:
    with log.open("a") as output:
        return subprocess.run(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT).returncode


def _failed(command: list[str], log: Path) -> ReproduceError:
    tail = "\n".join(log.read_text().splitlines()[-30:])
    return ReproduceError(f"`{' '.join(command)}` failed in the clean room:\n{tail}")


def install(clone: Path, env: dict[str, str], log: Path) -> None:
    """A fresh environment in the clone, from its committed uv.lock."""
    command = ["uv", "sync", "--frozen", "--no-default-groups", "--group", "pipeline"]
    if _step(command, clone, env, log):
        raise _failed(command, log)


def _corruption(bad: list[Path], where: str, tracked: list[str]) -> ReproduceError:
    return ReproduceError(
        f"corrupted DVC cache objects in {where}: "
        + ", ".join(str(path) for path in bad)
        + " no longer match their MD5. Delete them; then fetch good copies with `uv run dvc pull` "
        "if your DVC remote has them, or, if the data in your working tree is intact (`uv run dvc "
        f"status` does not list it), put it back into the cache with `uv run dvc commit --force "
        f"{' '.join(tracked)}`. Run reproduce again (`uvx nox -s verify` checks the whole cache)."
    )


def _ascii_path(path: Path, link: Path) -> Path:
    """The path itself, or an ASCII-named link to it: DVC cannot write other paths to its config."""
    if str(path).isascii() or not str(link).isascii():
        return path
    try:
        link.symlink_to(path, target_is_directory=True)
    except OSError:  # no symlinks here (Windows without the privilege): try the path as it is
        return path
    return link


def restore_inputs(root: Path, clone: Path, env: dict[str, str], log: Path) -> None:
    """Fetch the data tracked with `dvc add` (*.dvc files) into the clone, checked against its MD5."""
    tracked = [line for line in _git(clone, "ls-files", "*.dvc").splitlines() if line]
    if not tracked:
        return
    hashes = tracked_hashes(clone / name for name in tracked)
    dvc = ["uv", "run", "--frozen", "--no-sync", "dvc"]
    found = _run([*dvc, "--cd", str(root), "cache", "dir"], clone, env)
    if found.returncode or not found.stdout.strip():
        raise ReproduceError(f"`dvc cache dir` failed in {root}: {found.stderr.strip()}")
    cache = Path(found.stdout.strip())
    # DVC would check a corrupted object out as it is: name it instead.
    if bad := corrupted(cache, hashes):
        raise _corruption(bad, "this study's cache", tracked)
    # The study's own remote settings (credentials included) are in its git-ignored config.local.
    local_config = root / ".dvc" / "config.local"
    if local_config.is_file():
        shutil.copy2(local_config, clone / ".dvc" / "config.local")
    remote = _ascii_path(cache, clone.parent / "study-cache")
    added = _run([*dvc, "remote", "add", "--local", "study-cache", str(remote)], clone, env)
    if added.returncode:
        detail = (added.stderr.strip().splitlines() or [""])[0]
        raise ReproduceError(f"could not point the clean room at this study's DVC cache: {detail}")
    for which in (["--remote", "study-cache"], []):
        logged = log.stat().st_size if log.exists() else 0
        if _step([*dvc, "pull", *which, *tracked], clone, env, log) == 0:
            # Whatever came from the remote is checked too.
            if bad := corrupted(clone / ".dvc" / "cache", hashes):
                raise _corruption(bad, "the DVC remote", tracked)
            return
    # What the remote answered, such as "Unable to locate credentials".
    with log.open(errors="replace") as text:
        text.seek(logged)
        said = [line.removeprefix("ERROR:").strip() for line in text if line.startswith("ERROR:")]
    raise ReproduceError(
        f"the data tracked by {', '.join(tracked)} is neither in this study's DVC cache nor in its "
        f"DVC remote{f' (DVC: {said[0]})' if said else ''}. If the remote "
        "needs credentials, give them as README.md says under 'Reproduce the main result'; "
        "otherwise restore the data in the study with `uv run dvc pull` (or re-create it and "
        "`uv run dvc add` it), commit, and run reproduce again."
    )


def rerun(clone: Path, tier: str, env: dict[str, str], log: Path) -> None:
    """The tier's aggregate stage and everything upstream of it, all run again.

    A clone has no runs/ (only the *.dvc inputs are restored); were any there, the tier would
    keep those whose identity matches, so they go first: a reproduction reuses nothing.
    """
    shutil.rmtree(clone / paths.runs_dir(tier).relative_to(paths.ROOT), ignore_errors=True)
    command = ["uv", "run", "--frozen", "--no-sync", "dvc", "repro", "--force", f"aggregate@{tier}"]
    if _step(command, clone, env, log):
        raise _failed(command, log)


def reproduce(root: Path, tier: str | None = None, keep: bool = False) -> tuple[list, list, dict]:
    if shutil.which("uv") is None:
        raise ReproduceError("uv is not on PATH; install it with `pip install uv` (or see its docs).")
    if not _run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], root).stdout.strip():
        raise ReproduceError("the study has no commit yet: commit it first (`git add -A && git commit`).")
    commit = _git(root, "rev-parse", "--short", "HEAD").strip()
    main_tier, tiers = tiers_of(root, commit)
    tier = tier or main_tier
    if tier not in tiers:
        raise ReproduceError(
            f"no tier {tier!r} in conf/study.yaml of commit {commit}; its tiers: {', '.join(tiers)}."
        )
    recorded = recorded_result(root, commit, tier)
    recorded_claims = recorded_result(root, commit, tier, paths.COMPARISONS)
    dirty = _git(root, "status", "--porcelain").splitlines()
    if dirty:
        print(f"note: {len(dirty)} uncommitted change(s) are not part of this check (commit {commit} is):")
        for line in dirty[:10]:
            print(f"  {line}")

    workdir = Path(tempfile.mkdtemp(prefix="reproduce-"))
    clone, env, started = workdir / "study", clean_env(), time.perf_counter()
    try:
        print(f"re-running the {tier} tier of commit {commit} in {clone} ...", flush=True)
        _git(workdir, "clone", "--quiet", str(root), str(clone))
        log = workdir / "clean-room.log"
        install(clone, env, log)
        restore_inputs(root, clone, env, log)
        rerun(clone, tier, env, log)
        results = clone / paths.results_dir(tier).relative_to(paths.ROOT)
        reproduced = json.loads((results / paths.SUMMARY).read_text())
        reproduced_claims = json.loads((results / paths.COMPARISONS).read_text())
        compute = json.loads((results / paths.COMPUTE).read_text())
        study = load_study(clone / paths.CONF_DIR.relative_to(paths.ROOT))
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    checks = compare(recorded, reproduced, study.tolerance)
    comparison_checks, claims = compare_claims(
        recorded_claims, reproduced_claims, study.tolerance, study.metrics
    )
    timing = {"commit": commit, "tier": tier, "wall_seconds": round(time.perf_counter() - started, 3)}
    timing |= {key: compute[key] for key in ("runs", "run_seconds")}
    return checks + comparison_checks, claims, timing


def main(tier: str | None = None, keep: bool = False, report: Path | None = None) -> int:
    """Reproduce, print the checks and the claims, and return 0 only if every one passes."""
    checks, claims, timing = reproduce(study_root(), tier, keep=keep)
    print(render(checks))
    print()
    print(render_claims(claims))
    failed = [check for check in checks if check.passed is False]
    changed = [claim for claim in claims if not claim.passed]
    skipped = sum(check.passed is None for check in checks)
    checked = len(checks) - skipped
    print(
        f"\n{checked - len(failed)} of {checked} checks pass"
        + (f" ({skipped} not checked by their tolerance)" if skipped else "")
        + f" for the {timing['tier']} tier of commit {timing['commit']} "
        f"({timing['runs']} runs, {timing['run_seconds']:.1f} s inside them, "
        f"{timing['wall_seconds']:.1f} s in all)."
    )
    print(f"{len(claims) - len(changed)} of {len(claims)} claims have the same verdict.")
    if report:
        summary = {
            "timing": timing,
            "failed": [check.name for check in failed] + [claim.name for claim in changed],
            "checks": len(checks),
            "claims": len(claims),
        }
        report.write_text(json.dumps(summary, indent=2) + "\n")
    for claim in changed:
        print(f"NOT REPRODUCED: {claim.sentence()} did not reproduce (the re-run: {claim.reproduced})")
    if failed:
        differences = (f"{c.name} recorded {c.recorded} reproduced {c.reproduced}" for c in failed)
        print("NOT REPRODUCED: " + "; ".join(differences))
    if failed or changed:
        return 1
    print("REPRODUCED: every recorded metric and claim is within its tolerance.")
    return 0
