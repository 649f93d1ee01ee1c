"""Is the study ready for a reader? `python -m study_machinery checklist`, or `nox -s checklist`.

Prints the five items of the ML Code Completeness Checklist (Papers with
Code), the reproducibility items of the NeurIPS paper checklist (2025's, with its licenses
and its declaration of LLM usage) and the criteria of ACM's artifact badges (artifacts.py),
each with a state read from this repository: done, to do (with what to do), or check
yourself, for what no file can tell. Exits 1 while anything is to do.
"""

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from study_machinery import contract
from study_machinery.checks import artifacts
from study_machinery.checks.numbers import typed_numbers
from study_machinery.core import paths
from study_machinery.core.errors import StudyError
from study_machinery.core.paths import LOCK, ROOT
from study_machinery.core.study import METHOD, load_study, variants
from study_machinery.report import readme
from study_machinery.results.recorded import load
from study_machinery.search.settings import budgets, how_chosen, read_search

DONE, TODO, CHECK = "done", "to do", "check yourself"
LLM = (
    "whether an LLM is part of the method (not of the writing) no file can tell: if it is, the paper says so"
)
PRETRAINED = (
    "no file can say whether your trained models are published: the demo's train in seconds; "
    "if yours are costly, `uvx nox -s push` puts runs/ in the DVC remote: say in the README how to get them"
)


@dataclass(frozen=True)
class Item:
    section: str
    name: str
    state: str
    detail: str


def _command(*args: str) -> subprocess.CompletedProcess | None:
    if shutil.which(args[0]) is None:
        return None
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def lock_state() -> tuple[str, str]:
    if not (ROOT / LOCK).is_file():
        return TODO, "no uv.lock: run `uv lock` and commit it"
    checked = _command("uv", "lock", "--check", "--offline")
    if checked is None:
        return CHECK, "uv is not installed here, so whether uv.lock matches pyproject.toml is unknown"
    if checked.returncode != 0:
        return TODO, "uv.lock does not match pyproject.toml: run `uv lock` and commit it"
    return DONE, "pyproject.toml, with every version pinned in uv.lock (in sync)"


def environment_state() -> tuple[str, str]:
    state, detail = lock_state()
    if state != DONE:
        return state, detail
    if not paths.PYTHON_VERSION.is_file():
        return TODO, "no .python-version: write the Python version the study runs on into it"
    return (
        DONE,
        "`uvx nox -s reproduce`: a clean clone, the Python of .python-version, the packages of uv.lock",
    )


def pipeline_state() -> tuple[str, str]:
    status = _command("dvc", "status", "--json")
    if status is None:
        return CHECK, "dvc is not installed here: run `uvx nox -s checklist`"
    changed = sorted(json.loads(status.stdout or "{}")) if status.returncode == 0 else ["(dvc status failed)"]
    if changed:
        return TODO, f"out of date: {', '.join(changed)}; run `uvx nox -s record` and commit"
    return DONE, "dvc status: every recorded result matches the code, configs and data"


def data_state() -> tuple[str, str]:
    """Where a stranger gets the data: the DVC remote, unless it is a folder on this machine."""
    listed = _command("dvc", "config", "--list")
    if listed is None:
        return CHECK, "dvc is not installed here: run `uvx nox -s checklist`"
    # Project config, then .dvc/config.local: the last value of a key wins, as in DVC.
    config = dict(line.partition("=")[::2] for line in listed.stdout.splitlines() if "=" in line)
    url = config.get(f"remote.{config.get('core.remote', '')}.url")
    if not url:
        return TODO, "no default DVC remote: `uv run dvc remote add --default storage URL`, then push"
    if "://" not in url:
        return CHECK, (
            f"the DVC remote is a folder on this machine ({url}): others cannot fetch the data. To share "
            "it, move the remote to storage they can reach (README.md says how), then `uvx nox -s push`"
        )
    return DONE, f"`uv run dvc pull` from {url}, for readers with read access; push after each record"


def readme_state() -> tuple[str, str]:
    try:
        study = load_study()
        text = paths.README.read_text(encoding="utf-8")
        current = readme.synced(text, study, paths.README)
    except (OSError, StudyError) as error:
        return TODO, str(error)
    problems = []
    if current != text:
        problems.append(
            "its results section or a number of its prose is out of date: run `uvx nox -s record`"
        )
    if "nox -s reproduce" not in text:
        problems.append("it does not give the command that reproduces the results (`uvx nox -s reproduce`)")
    if problems:
        return TODO, "README.md: " + "; ".join(problems)
    return (
        DONE,
        "README.md: the results tables between its markers match results/, with `uvx nox -s reproduce`",
    )


def _present(paths: list[str], todo: str) -> Callable[[], tuple[str, str]]:
    def state() -> tuple[str, str]:
        missing = [path for path in paths if not (ROOT / path).exists()]
        return (TODO, f"{todo} (missing: {', '.join(missing)})") if missing else (DONE, ", ".join(paths))

    return state


def comparisons_state() -> tuple[str, str]:
    names = variants()
    baselines = [name for name in names if name.startswith("baseline/")]
    if METHOD not in names or not baselines:
        return TODO, f"add conf/variant/{METHOD}.yaml and at least one file in conf/variant/baseline/"
    return DONE, f"conf/variant/: {METHOD}, {', '.join(baselines)}; all run by `dvc repro`"


def error_bars_state() -> tuple[str, str]:
    study = load_study()
    if not study.seeds_vary.strip():
        return TODO, "say in conf/study.yaml what the seeds vary (seeds_vary)"
    try:
        recorded = load(paths.results_dir(study.main_tier))
    except StudyError as error:
        return TODO, str(error)
    return (
        DONE,
        f"95% confidence intervals of the mean over n={recorded.seeds} seeds, defined in every "
        f"caption; the seeds vary {study.seeds_vary}",
    )


def metrics_state() -> tuple[str, str]:
    study = load_study()
    directions = ", ".join(f"{name} ({study.metrics[name].better.value} is better)" for name in study.metrics)
    return DONE, f"main metric {study.main_metric}; declared in conf/study.yaml: {directions}"


def left_out_state() -> tuple[str, str]:
    """Every run is in the result, or left out by a decision the captions show."""
    study = load_study()
    if not study.excluded:
        return DONE, "every run of every tier is in its result: none left out"
    listed = "; ".join(f"{exclusion.tier}: {exclusion}" for exclusion in study.excluded)
    return (
        CHECK,
        f"{len(study.excluded)} left out by conf/study.yaml's `excluded`, named in every caption: {listed}",
    )


def tuning_state() -> tuple[str, str]:
    """The main tier's hyperparameters: chosen by a fair search on validation, or said to be as set."""
    study = load_study()
    tier, search = study.main_tier, read_search(study)
    if tier not in search.trials:
        searched = ", ".join(search.trials) or "none"
        return (
            CHECK,
            f"the main tier ({tier}) has no search (search.trials names: {searched}), so its "
            f"hyperparameters are as conf/ sets them, which every caption says; docs/tuning.md",
        )
    tuned = [variant for variant, trials in budgets(search, tier).items() if trials]
    missing = [variant for variant in tuned if not paths.tuned_file(tier, variant).is_file()]
    if missing:
        return TODO, f"`uvx nox -s tune -- {tier}`: its search has chosen nothing for {', '.join(missing)}"
    return DONE, how_chosen(study, tier)


def compute_state() -> tuple[str, str]:
    try:
        recorded = load(paths.results_dir(load_study().main_tier))
    except StudyError as error:
        return TODO, str(error)
    compute = recorded.compute
    return (
        DONE,
        f"{compute['cpu_hours']:g} CPU hours and {compute['gpu_hours']:g} GPU hours, "
        f"in {recorded.shown(paths.COMPUTE)} and the README",
    )


def citation_state() -> tuple[str, str]:
    path = paths.CITATION
    if not path.is_file():
        return TODO, "add CITATION.cff so that others can cite the study"
    citation = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [key for key in ("cff-version", "message", "title", "authors") if not citation.get(key)]
    if missing:
        return TODO, f"CITATION.cff lacks {', '.join(missing)}"
    return DONE, f"CITATION.cff: {citation['title']}"


def numbers_state() -> tuple[str, str]:
    found = typed_numbers()
    if found:
        return TODO, (
            f"{len(found)} typed by hand ({found[0]}): write each as the record's, a macro of "
            f"{paths.NUMBERS_TEX} in the paper, a fragment of {paths.NUMBERS_MD} in the README"
        )
    where = paths.README.name + (" and paper/" if (ROOT / paths.PAPER_DIR).is_dir() else "")
    return DONE, f"every decimal number in the prose of {where} is one of the record's ({paths.NUMBERS_MD})"


def licenses_state() -> tuple[str, str]:
    citation = yaml.safe_load(paths.CITATION.read_text(encoding="utf-8")) if paths.CITATION.is_file() else {}
    ours = (
        f"the study's own: {citation.get('license')} (LICENSE, CITATION.cff)"
        if citation
        else "no CITATION.cff"
    )
    return (
        CHECK,
        f"{ours}; name the licenses of the data and of the code it builds on (uv.lock lists the packages)",
    )


def items() -> list[Item]:
    completeness = "ML Code Completeness Checklist"
    neurips = "NeurIPS paper checklist: reproducibility"
    acm = "ACM artifact badges (Artifact Review and Badging 1.1)"
    current = pipeline_state()  # dvc status, once: two items read it
    functional = artifacts.functional_state(DONE, TODO, current)
    code, machinery = f"src/{contract.PACKAGE}", paths.shown(Path(contract.__file__).parent)
    checks: list[tuple[str, str, Callable[[], tuple[str, str]]]] = [
        (completeness, "Specification of dependencies", lock_state),
        (
            completeness,
            "Training code",
            _present([f"{code}/experiment.py", "conf/variant", paths.DVC_YAML], "the code that trains"),
        ),
        (
            completeness,
            "Evaluation code",
            _present(
                [f"{code}/experiment.py", f"{machinery}/results/aggregate.py"], "the code that evaluates"
            ),
        ),
        (completeness, "Pre-trained models", lambda: (CHECK, PRETRAINED)),
        (completeness, "README results table with the commands that produce it", readme_state),
        (neurips, "Results match the code and data they claim to come from", lambda: current),
        (neurips, "Exact command and environment", environment_state),
        (neurips, "Data others can fetch", data_state),
        (neurips, "Scripts for the method and the baselines", comparisons_state),
        (neurips, "Error bars defined: what varies, and which statistic", error_bars_state),
        (neurips, "Metrics: which way is better, and the main one", metrics_state),
        (neurips, "Every run reported, or left out by a stated decision", left_out_state),
        (neurips, "Hyperparameters: how they were chosen", tuning_state),
        (neurips, "Compute reported", compute_state),
        (neurips, "Citation", citation_state),
        (neurips, "Numbers in the prose come from the record", numbers_state),
        (neurips, "Licenses of the assets used, and the study's own", licenses_state),
        (neurips, "Declaration of LLM usage", lambda: (CHECK, LLM)),
        (acm, "The README's sections written for readers", lambda: artifacts.readers_state(DONE, TODO)),
        (acm, "Artifacts Available", lambda: artifacts.available_state(DONE, TODO)),
        (acm, "Artifacts Evaluated: Functional", lambda: functional),
        (acm, "Artifacts Evaluated: Reusable", lambda: artifacts.reusable_state(DONE, TODO, functional)),
        (acm, "Results Reproduced", lambda: artifacts.reproduced_state(CHECK)),
    ]
    return [Item(section, name, *state()) for section, name, state in checks]


def main() -> int:
    found = items()
    for section in dict.fromkeys(item.section for item in found):
        print(section)
        for item in (item for item in found if item.section == section):
            print(f"  [{item.state}] {item.name}\n      {item.detail}")
    todo = sum(item.state == TODO for item in found)
    print(f"\n{sum(item.state == DONE for item in found)} of {len(found)} done, {todo} to do.")
    return 1 if todo else 0
