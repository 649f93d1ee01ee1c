"""Re-execute a recorded tier of the main result in a clean room and compare, metric by metric.

`python -m study_machinery reproduce [TIER]` (what `nox -s reproduce -- [TIER]` runs;
the main tier of conf/study.yaml by default):
1. clones the last commit into a temporary folder, so uncommitted edits cannot
   leak in and nothing in the study (results, DVC cache) is touched;
2. installs the committed lock file into a fresh environment there;
3. restores the DVC-tracked inputs from this study's DVC cache or remote (clean_room.py);
4. runs the tier's pipeline with `dvc repro --force` (a cache hit is not a
   reproduction), with the committed choices of a search (conf/tuned/TIER/);
5. where the commit records a search at the tier, runs the search again from nothing and
   compares each tuned variant's choice with the committed one (the same trial, the same values);
6. compares the re-run's results/TIER/metrics.json with the committed one within
   the tolerances in conf/study.yaml, and its comparisons.json too: each difference
   from the method and its interval within the metric's tolerance, and each claim's
   verdict (better, worse, no clear difference, in the metric's declared direction) the
   same; prints both tables, and exits 0 only if every check passes and every claim holds.
"""

import json
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from study_machinery.checks.clean_room import (
    ReproduceError,
    clean_env,
    failed,
    git,
    install,
    restore_inputs,
    run,
    step,
)
from study_machinery.checks.compare import (
    Choice,
    compare,
    compare_choices,
    compare_claims,
    render,
    render_choices,
    render_claims,
)
from study_machinery.checks.numbers import explain, typed_numbers
from study_machinery.core import paths
from study_machinery.core.study import load_study


def study_root() -> Path:
    result = run(["git", "rev-parse", "--show-toplevel"], Path.cwd())
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
    result = run(["git", "show", f"{commit}:{recorded}"], root)
    if result.returncode:
        raise ReproduceError(
            f"the last commit has no {recorded}: record the tier with "
            f"`uvx nox -s record`, then commit results/ and dvc.lock."
        )
    return json.loads(result.stdout)


def tiers_of(root: Path, commit: str) -> tuple[str, list[str]]:
    """The main tier and every tier of the committed conf/study.yaml."""
    result = run(["git", "show", f"{commit}:{_committed(paths.STUDY_FILE)}"], root)
    study = yaml.safe_load(result.stdout) if result.returncode == 0 else {}
    return study.get("main_tier", ""), list(study.get("tiers", {}))


def rerun(clone: Path, tier: str, env: dict[str, str], log: Path) -> None:
    """The tier's aggregate stage and everything upstream of it, all run again.

    A clone has no runs/ (only the *.dvc inputs are restored); were any there, the tier would
    keep those whose identity matches, so they go first: a reproduction reuses nothing.
    """
    shutil.rmtree(clone / paths.runs_dir(tier).relative_to(paths.ROOT), ignore_errors=True)
    command = ["uv", "run", "--frozen", "--no-sync", "dvc", "repro", "--force", f"aggregate@{tier}"]
    if step(command, clone, env, log):
        raise failed(command, log)


def ledgers(results: Path) -> dict[str, dict]:
    """A tier's search ledgers (search/ledger.py) under its results folder, by variant."""
    folder = results / paths.SEARCH
    found = (json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.rglob("*.json")))
    return {ledger["variant"]: ledger for ledger in found} if folder.is_dir() else {}


def research(clone: Path, tier: str, env: dict[str, str], log: Path) -> list[Choice]:
    """The tier's search run again from nothing, where the commit records one (conf/tuned/TIER/):
    each tuned variant's choice compared with the committed one."""
    tuned = clone / paths.CONF_DIR.relative_to(paths.ROOT) / paths.TUNED / tier
    if not tuned.is_dir():
        return []
    committed = {path: path.read_text(encoding="utf-8") for path in sorted(tuned.rglob("*.yaml"))}
    results = clone / paths.results_dir(tier).relative_to(paths.ROOT)
    recorded = ledgers(results)
    shutil.rmtree(results / paths.SEARCH, ignore_errors=True)
    shutil.rmtree(clone / paths.TRIALS_DIR.relative_to(paths.ROOT) / tier, ignore_errors=True)
    command = ["uv", "run", "--frozen", "--no-sync", "python", "-m", "study_machinery", "tune", tier]
    if step(command, clone, env, log):
        raise failed(command, log)
    return compare_choices(recorded, ledgers(results)) + edited_choices(committed, tuned)


def edited_choices(committed: dict[Path, str], tuned: Path) -> list[Choice]:
    """A committed choice file that its search, run again, does not write as it stands: edited by
    hand, it runs what no search chose, though the ledger and the runs agree."""
    edited = []
    for path, text in committed.items():
        if (path.read_text(encoding="utf-8") if path.is_file() else None) != text:
            variant = path.relative_to(tuned).with_suffix("").as_posix()
            where = f"{paths.TUNED}/{tuned.name}/{variant}.yaml"
            edited.append(Choice(f"{variant} ({where})", "edited by hand", "as its search writes it"))
    return edited


def reproduce(root: Path, tier: str | None = None, keep: bool = False) -> tuple[list, list, list, dict]:
    if shutil.which("uv") is None:
        raise ReproduceError("uv is not on PATH; install it with `pip install uv` (or see its docs).")
    if not run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], root).stdout.strip():
        raise ReproduceError("the study has no commit yet: commit it first (`git add -A && git commit`).")
    commit = git(root, "rev-parse", "--short", "HEAD").strip()
    main_tier, tiers = tiers_of(root, commit)
    tier = tier or main_tier
    if tier not in tiers:
        raise ReproduceError(
            f"no tier {tier!r} in conf/study.yaml of commit {commit}; its tiers: {', '.join(tiers)}."
        )
    recorded = recorded_result(root, commit, tier)
    recorded_claims = recorded_result(root, commit, tier, paths.COMPARISONS)
    dirty = git(root, "status", "--porcelain").splitlines()
    if dirty:
        print(f"note: {len(dirty)} uncommitted change(s) are not part of this check (commit {commit} is):")
        for line in dirty[:10]:
            print(f"  {line}")

    workdir = Path(tempfile.mkdtemp(prefix="reproduce-"))
    clone, env, started = workdir / "study", clean_env(), time.perf_counter()
    try:
        print(f"re-running the {tier} tier of commit {commit} in {clone} ...", flush=True)
        git(workdir, "clone", "--quiet", str(root), str(clone))
        log = workdir / paths.CLEAN_ROOM_LOG
        install(clone, env, log)
        restore_inputs(root, clone, env, log)
        # The tier as recorded, with the committed choices; then the search again from nothing,
        # whose choices must be those (its runs need the data the tier's pipeline prepared).
        rerun(clone, tier, env, log)
        choices = research(clone, tier, env, log)
        results = clone / paths.results_dir(tier).relative_to(paths.ROOT)
        reproduced = json.loads((results / paths.SUMMARY).read_text())
        reproduced_claims = json.loads((results / paths.COMPARISONS).read_text())
        compute = json.loads((results / paths.COMPUTE).read_text())
        study = load_study(clone / paths.CONF_DIR.relative_to(paths.ROOT))
        # A number typed into the commit's paper is one no re-run checks (checks/numbers.py).
        typed = typed_numbers(clone)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    checks = compare(recorded, reproduced, study.tolerance)
    comparison_checks, claims = compare_claims(
        recorded_claims, reproduced_claims, study.tolerance, study.metrics
    )
    timing = {"commit": commit, "tier": tier, "wall_seconds": round(time.perf_counter() - started, 3)}
    timing |= {key: compute[key] for key in ("runs", "run_seconds")} | {"typed_numbers": typed}
    return checks + comparison_checks, claims, choices, timing


def main(tier: str | None = None, keep: bool = False, report: Path | None = None) -> int:
    """Reproduce, print the checks and the claims, and return 0 only if every one passes."""
    checks, claims, choices, timing = reproduce(study_root(), tier, keep=keep)
    print(render(checks))
    print()
    print(render_claims(claims))
    if choices:
        print()
        print(render_choices(choices))
    failed_checks = [check for check in checks if check.passed is False]
    changed = [claim for claim in claims if not claim.passed]
    skipped = sum(check.passed is None for check in checks)
    checked = len(checks) - skipped
    print(
        f"\n{checked - len(failed_checks)} of {checked} checks pass"
        + (f" ({skipped} not checked by their tolerance)" if skipped else "")
        + f" for the {timing['tier']} tier of commit {timing['commit']} "
        f"({timing['runs']} runs, {timing['run_seconds']:.1f} s inside them, "
        f"{timing['wall_seconds']:.1f} s in all)."
    )
    print(f"{len(claims) - len(changed)} of {len(claims)} claims have the same verdict.")
    other = [choice for choice in choices if not choice.passed]
    if choices:
        print(f"{len(choices) - len(other)} of {len(choices)} of the search's choices are the same.")
    if report:
        summary = {
            "timing": timing,
            "failed": [check.name for check in failed_checks]
            + [claim.name for claim in changed]
            + [choice.name for choice in other]
            + timing["typed_numbers"],
            "checks": len(checks),
            "claims": len(claims),
        }
        report.write_text(json.dumps(summary, indent=2) + "\n")
    for claim in changed:
        print(f"NOT REPRODUCED: {claim.sentence()} did not reproduce (the re-run: {claim.reproduced})")
    for choice in other:
        print(f"NOT REPRODUCED: {choice.name}: recorded {choice.recorded}; re-run: {choice.reproduced}")
    if failed_checks:
        differences = (f"{c.name} recorded {c.recorded} reproduced {c.reproduced}" for c in failed_checks)
        print("NOT REPRODUCED: " + "; ".join(differences))
    if timing["typed_numbers"]:
        print(f"NOT REPRODUCED: {explain(timing['typed_numbers'])}")
    if failed_checks or changed or other or timing["typed_numbers"]:
        return 1
    searched = ", and the search chose the same" if choices else ""
    print(f"REPRODUCED: every recorded metric and claim is within its tolerance{searched}.")
    return 0
