"""Prepared data from raw data: `python -m <package>.prepare RAW_DIR PREPARED_FILE`.

The raw digits are 8x8 images with pixel counts 0..16, one image per CSV row
followed by its label. Preparing scales pixels to [0, 1] and stores plain arrays.
"""

import sys
from pathlib import Path

import numpy as np

PIXEL_MAX = 16.0


def prepare(raw_dir: Path, prepared_file: Path) -> None:
    table = np.loadtxt(raw_dir / "digits.csv.gz", delimiter=",")
    features, labels = table[:, :-1] / PIXEL_MAX, table[:, -1].astype(np.int64)
    prepared_file.parent.mkdir(parents=True, exist_ok=True)
    np.savez(prepared_file, features=features, labels=labels)


def main() -> None:
    raw_dir, prepared_file = map(Path, sys.argv[1:3])
    if not (raw_dir / "digits.csv.gz").is_file():
        raise SystemExit(f"error: {raw_dir / 'digits.csv.gz'} is missing. Restore it with `uv run dvc pull`.")
    prepare(raw_dir, prepared_file)


if __name__ == "__main__":
    main()
