"""Prepared data from raw data: `python -m <package>.prepare RAW_DIR PREPARED_DIR`, the prepare stage.

The raw diabetes data is two whitespace-separated tables without a header: ten
measurements per patient (in their original units, not scikit-learn's rescaled
ones) and, one per line, the disease progression a year later. Preparing names the
columns and stores plain arrays in PREPARED_DIR/PREPARED_FILE, where data.py's
load_prepared reads them; scaling is left to each run, fitted on its training split.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

FEATURES_FILE = "diabetes_data_raw.csv.gz"
TARGET_FILE = "diabetes_target.csv.gz"
PREPARED_FILE = "diabetes.npz"
# In the raw file's order (scikit-learn's description of the data set): age, sex, body mass
# index, mean blood pressure, and six blood-serum measurements.
COLUMNS = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def prepare(raw_dir: Path, prepared_dir: Path) -> None:
    features = np.loadtxt(raw_dir / FEATURES_FILE)
    target = np.loadtxt(raw_dir / TARGET_FILE)
    if features.shape != (len(target), len(COLUMNS)):
        raise ValueError(
            f"{raw_dir}: expected {len(COLUMNS)} columns and one target per row, "
            f"got features {features.shape} and {len(target)} targets."
        )
    prepared_dir.mkdir(parents=True, exist_ok=True)
    # Column names as a plain string array: the file loads without pickle.
    np.savez(prepared_dir / PREPARED_FILE, features=features, target=target, columns=np.array(COLUMNS))


def missing(raw_dir: Path) -> str | None:
    """What of the raw data is not there, and how to restore it; None when it is all there."""
    restore = (
        f"restore it with `uv run dvc checkout {raw_dir}.dvc` "
        "(or `uv run dvc pull` when this study's DVC cache lacks it)"
    )
    absent = [str(raw_dir / name) for name in (FEATURES_FILE, TARGET_FILE) if not (raw_dir / name).is_file()]
    return f"{', '.join(absent)} missing: {restore}." if absent else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help=f"the folder that holds {FEATURES_FILE} and {TARGET_FILE}")
    parser.add_argument("prepared_dir", type=Path, help=f"the folder to write {PREPARED_FILE} into")
    args = parser.parse_args(argv)
    if problem := missing(args.raw_dir):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    prepare(args.raw_dir, args.prepared_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
