"""Put the study's raw data in place: `python -m <package>.fetch_data RAW_DIR`.

The diabetes data (Efron et al., 2004, "Least Angle Regression") ships inside
scikit-learn as two files, copied here as they are: the ten baseline measurements of
442 patients, and each patient's disease progression a year later. Nothing is
downloaded. The copies are tracked with `dvc add data/raw`, so a clone gets them
from the DVC remote; the tests use this to make the same files in a fresh clone.
"""

import argparse
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

RAW_FILES = ("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz")


def fetch(raw_dir: Path) -> None:
    raw_dir.mkdir(parents=True, exist_ok=True)
    # Locate scikit-learn without importing it: the import alone takes seconds.
    sklearn_dir = Path(find_spec("sklearn").submodule_search_locations[0])
    for name in RAW_FILES:
        shutil.copyfile(sklearn_dir / "datasets" / "data" / name, raw_dir / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help="the folder to put the raw files in, e.g. data/raw")
    fetch(parser.parse_args(argv).raw_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
