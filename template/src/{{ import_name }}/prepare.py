"""Prepared data from raw data: `python -m <package>.prepare RAW_DIR PREPARED_FILE`, the prepare stage.

The raw digits are 8x8 images with pixel counts 0..16, one image per CSV row
followed by its label. Preparing scales pixels to [0, 1] and stores plain arrays.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

PIXEL_MAX = 16.0
RAW_FILE = "digits.csv.gz"


def prepare(raw_dir: Path, prepared_file: Path) -> None:
    table = np.loadtxt(raw_dir / RAW_FILE, delimiter=",")
    features, labels = table[:, :-1] / PIXEL_MAX, table[:, -1].astype(np.int64)
    prepared_file.parent.mkdir(parents=True, exist_ok=True)
    np.savez(prepared_file, features=features, labels=labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help="the folder that holds " + RAW_FILE)
    parser.add_argument("prepared_file", type=Path, help="the .npz file to write")
    args = parser.parse_args(argv)
    if not (args.raw_dir / RAW_FILE).is_file():
        print(
            f"error: {args.raw_dir / RAW_FILE} is missing. Restore it with `uv run dvc pull`.",
            file=sys.stderr,
        )
        return 1
    prepare(args.raw_dir, args.prepared_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
