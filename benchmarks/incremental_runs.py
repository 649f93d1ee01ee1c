"""Only what changed runs: the runs each kind of edit executes, and a no-op record's own work.

Generates a study with the default answers (its first record is the copy's), then makes
each kind of edit in turn and brings the study up to date with `dvc repro`, as
`nox -s record` does. For each edit it prints the runs executed (a run that executes
writes a new run.json) of the runs in its tiers, and the wall time of the `dvc repro`.
Last, with nothing changed, it times each command of `nox -s record` on its own: the
work a no-op record adds to nox's start.

Usage: python benchmarks/incremental_runs.py
"""

import gzip
import os
import tempfile
from pathlib import Path

import yaml
from common import copy_study, timed

RUN = ["uv", "run", "--frozen", "--no-sync"]


def records(study: Path) -> dict[str, bytes]:
    return {
        path.parent.relative_to(study / "runs").as_posix(): path.read_bytes()
        for path in (study / "runs").rglob("run.json")
    }


def in_tiers(study: Path) -> int:
    """Runs the tiers have now: variants times seeds, summed over the tiers."""
    settings = yaml.safe_load((study / "conf/study.yaml").read_text())
    variants = len(list((study / "conf/variant").rglob("*.yaml")))
    return sum(variants * len(tier["seeds"]) for tier in settings["tiers"].values())


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} has no {old!r}"
    path.write_text(text.replace(old, new, 1))


def change_raw_data(study: Path) -> None:
    """One pixel of the last image one step brighter, then `dvc add`, as new raw data would be."""
    raw = study / "data/raw/digits.csv.gz"
    lines = gzip.decompress(raw.read_bytes()).decode().splitlines()
    pixels = lines[-1].split(",")
    pixels[0] = str(min(16, int(pixels[0]) + 1))
    lines[-1] = ",".join(pixels)
    raw.unlink()  # a new file: the old one may be linked to DVC's cache
    raw.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
    timed([*RUN, "dvc", "add", "--quiet", "data/raw"], study)


def append(path: Path, text: str) -> None:
    with path.open("a") as file:
        file.write(text)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        study, _ = copy_study(Path(tmp), "study")
        conf = study / "conf"
        package = next(path for path in (study / "src").iterdir() if path.name != "study_machinery")
        knn_again = conf / "variant/baseline/knn_again.yaml"
        ablation, settings = conf / "variant/ablation/no_weight_decay.yaml", conf / "study.yaml"

        space = conf / "search/baseline/knn_again.yaml"

        def add_variant() -> None:
            text = (conf / "variant/baseline/knn.yaml").read_text()
            knn_again.write_text(text.replace("variant: baseline/knn", "variant: baseline/knn_again"))
            # A baseline is searched as the method is (smoke declares a search): it brings its space.
            space.write_text((conf / "search/baseline/knn.yaml").read_text())

        def delete_variant() -> None:
            knn_again.unlink()
            space.unlink()

        def pin(old: str, new: str, *options: str) -> None:
            edit_text(study / "pyproject.toml", old, new)
            timed(["uv", "lock", "--quiet", *options], study)
            timed(["uv", "sync", "--frozen", "--quiet", "--inexact"], study)

        edits = [
            (
                "one ablation's value changed",
                lambda: edit_text(ablation, "weight_decay: 0.0\n", "weight_decay: 0.0001\n"),
            ),
            (
                "a seed added to the small tier",
                lambda: edit_text(settings, "seeds: [0, 1, 2, 3, 4]", "seeds: [0, 1, 2, 3, 4, 5]"),
            ),
            ("a variant added", add_variant),
            ("a variant deleted", delete_variant),
            (
                "a tolerance changed",
                lambda: edit_text(settings, "abs_tol: 0.005", "abs_tol: 0.004"),
            ),
            (
                "seeds_vary changed",
                lambda: edit_text(settings, "seeds_vary: the", "seeds_vary: The"),
            ),
            ("a comment in the research code", lambda: append(package / "models.py", "\n# edited\n")),
            ("the research code changed", lambda: append(package / "models.py", "\nEDITED = 1\n")),
            ("the raw data changed (dvc add)", lambda: change_raw_data(study)),
            ("a linter's pin changed (uv lock)", lambda: pin('"ruff==', '"ruff>=0.1,==', "--offline")),
            ("a dependency's version (uv lock)", lambda: pin('"tqdm>=4.66"', '"tqdm>=4.66,<4.67"')),
        ]
        print(f"machine: {os.cpu_count()} cores")
        print(f"{'edit':<34} {'executed / in the tiers':>24} {'dvc repro':>10}")
        for name, edit in edits:
            edit()
            before = records(study)
            wall = timed([*RUN, "dvc", "repro"], study, PYTHONHASHSEED="0")
            after = records(study)
            executed = sum(before.get(key) != record for key, record in after.items())
            print(f"{name:<34} {f'{executed} / {in_tiers(study)}':>24} {wall:>9.1f}s")
        # uv lock rewrites the edited lock: settle it, then nothing is left to do.
        timed(["uv", "lock"], study)
        timed([*RUN, "dvc", "repro"], study, PYTHONHASHSEED="0")

        # A no-op record, command by command (noxfile.py's record session, in the study's venv).
        sync = ["uv", "sync", "--locked", "--no-default-groups", "--group=pipeline"]
        steps = {
            "uv lock": ["uv", "lock"],
            "uv sync": sync,
            "status --summary": [*RUN, "python", "-m", "study_machinery", "status", "--summary"],
            "dvc repro": [*RUN, "dvc", "repro"],
            "readme": [*RUN, "python", "-m", "study_machinery", "readme"],
        }
        walls = {name: timed(command, study, PYTHONHASHSEED="0") for name, command in steps.items()}
    print("a no-op record, its own work:")
    for name, wall in walls.items():
        print(f"  {name:<20} {wall:5.2f} s")
    print(f"  {'in all':<20} {sum(walls.values()):5.2f} s")


if __name__ == "__main__":
    main()
