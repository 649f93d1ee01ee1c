"""Prepared data from raw data: `python -m <package>.prepare RAW_DIR PREPARED_DIR`, the prepare stage.

The raw digits are 8x8 images with pixel counts 0..16, one image per CSV row
followed by its label. Preparing scales pixels to [0, 1] and stores plain arrays
in PREPARED_DIR/PREPARED_FILE, where data.py's load_prepared reads them: the
pipeline (dvc.yaml) and the configs (conf/data/) name only the folder.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

PIXEL_MAX = 16.0
RAW_FILE = "digits.csv.gz"
PREPARED_FILE = "digits.npz"


def prepare(raw_dir: Path, prepared_dir: Path) -> None:
    table = np.loadtxt(raw_dir / RAW_FILE, delimiter=",")
    features, labels = table[:, :-1] / PIXEL_MAX, table[:, -1].astype(np.int64)
    prepared_dir.mkdir(parents=True, exist_ok=True)
    np.savez(prepared_dir / PREPARED_FILE, features=features, labels=labels)


def missing(raw_dir: Path) -> str | None:
    """What of the raw data is not there, and how to restore it; None when it is all there."""
    restore = (
        f"restore it with `uv run dvc checkout {raw_dir}.dvc` "
        "(or `uv run dvc pull` when this study's DVC cache lacks it)"
    )
    if not raw_dir.is_dir():
        return f"{raw_dir} is missing: {restore}."
    if not any(raw_dir.iterdir()):
        # Before any stage runs, `dvc repro` records a `dvc add`-ed folder as it finds it, empty too.
        return (
            f"{raw_dir} is empty. If `git diff {raw_dir}.dvc` shows a change, `dvc repro` recorded the "
            f"empty folder there: undo that with `git checkout {raw_dir}.dvc`. Then {restore}."
        )
    if not (raw_dir / RAW_FILE).is_file():
        return f"{raw_dir / RAW_FILE} is missing: {restore}, or make prepare.py read your own raw data."
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help="the folder that holds " + RAW_FILE)
    parser.add_argument("prepared_dir", type=Path, help=f"the folder to write {PREPARED_FILE} into")
    args = parser.parse_args(argv)
    if problem := missing(args.raw_dir):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    prepare(args.raw_dir, args.prepared_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
