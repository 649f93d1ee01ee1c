"""What `copier update` does once to a study made by template 0.4.0 or older (copier.yml's
`_migrations`), after the update's merge, in the study's folder.

So that the machinery of 0.5 carries no code for earlier releases, the files those releases
wrote are brought to what 0.5 reads:

- conf/study.yaml: a tier's `launcher:` (0.4 and older) becomes `executor:`, where the merge
  left it (a tier line the researcher had edited);
- runs/TIER/multirun.yaml, Hydra's record of a tier's multirun (0.3 and older), goes;
- a run folder without metrics.json that a run had started in (0.4 ran a run in its own folder)
  becomes the run's attempt folder, VARIANT/seed_S.attempt, where 0.5 resumes it;
- each SLURM submission record (submitted.json) says which executor holds it, as 0.5's do;
- each run's run.json says `where` it ran (0.4 and older did not: "unknown").

Standard library only: it runs under Copier's own Python, before the study's environment is
synced. Each step changes nothing where there is nothing of an earlier release.
"""

import json
import re
from pathlib import Path

STUDY = Path("conf/study.yaml")
RUNS = Path("runs")
# The names the machinery gives them (src/study_machinery/core/paths.py, runs/execution.py).
METRICS, RECORD, SUBMITTED, STARTED, ATTEMPT = (
    "metrics.json",
    "run.json",
    "submitted.json",
    "started.json",
    ".attempt",
)
# A tier's key in conf/study.yaml: indented under `tiers:`, and nothing else is called that.
LAUNCHER = re.compile(r"^(?P<indent>[ \t]+)launcher:(?=\s)", re.M)


def rename_launchers() -> list[str]:
    if not STUDY.is_file():
        return []
    text = STUDY.read_text(encoding="utf-8")
    renamed, count = LAUNCHER.subn(r"\g<indent>executor:", text)
    if count:
        STUDY.write_text(renamed, encoding="utf-8")
        return [f"{STUDY}: {count} tiers' `launcher:` renamed `executor:`"]
    return []


def read_json(path: Path) -> dict:
    """A record's content; {} where it is not a JSON object (the machinery names it later)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def write_json(path: Path, content: dict) -> None:
    """As the machinery writes a record (runs/folder.py's json_text)."""
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def upgrade_runs() -> list[str]:
    if not RUNS.is_dir():
        return []
    said = []
    for record in sorted(RUNS.glob("*/multirun.yaml")):
        record.unlink()
        said.append(f"{record}: Hydra's record of a multirun, removed")
    for started in sorted(RUNS.rglob(STARTED)):
        folder = started.parent
        attempt = folder.with_name(folder.name + ATTEMPT)
        if folder.name.endswith(ATTEMPT) or (folder / METRICS).exists() or attempt.exists():
            continue
        folder.rename(attempt)
        said.append(f"{folder}: an unfinished run, moved to {attempt.name} (it resumes there)")
    named = 0
    for submitted in sorted(RUNS.rglob(SUBMITTED)):
        content = read_json(submitted)
        if content and "executor" not in content:
            write_json(submitted, {"executor": "slurm", **content})
            named += 1
    if named:
        said.append(f"{RUNS}: {named} SLURM submission records name their executor")
    placed = 0
    for record in sorted(RUNS.rglob(RECORD)):
        content = read_json(record)
        if content and "where" not in content:
            write_json(record, {**content, "where": {"host": "unknown"}})
            placed += 1
    if placed:
        said.append(f"{RUNS}: {placed} runs' run.json say where they ran: unknown")
    return said


def main() -> None:
    said = rename_launchers() + upgrade_runs()
    if said:
        print("Brought to template 0.5's formats:\n" + "\n".join(f"  {line}" for line in said))


if __name__ == "__main__":
    main()
