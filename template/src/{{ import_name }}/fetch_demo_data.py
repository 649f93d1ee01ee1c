"""Put the demo's raw data in place: `python -m <package>.fetch_demo_data RAW_DIR`.

The handwritten digits ship inside scikit-learn, so nothing is downloaded. conf/study.yaml's
`fetch_raw_data` names this module: `python -m study_machinery fetch` (what CI runs) runs it and
tracks the folder with `dvc add data/raw`. Your own study points that key at its own fetcher,
or at null when only its DVC remote has the data.
"""

import argparse
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path


def fetch(raw_dir: Path) -> None:
    raw_dir.mkdir(parents=True, exist_ok=True)
    # Locate scikit-learn without importing it: the import alone takes seconds.
    sklearn_dir = Path(find_spec("sklearn").submodule_search_locations[0])
    shutil.copyfile(sklearn_dir / "datasets" / "data" / "digits.csv.gz", raw_dir / "digits.csv.gz")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__spec__.name}", description=__doc__.splitlines()[0])
    parser.add_argument("raw_dir", type=Path, help="the folder to put digits.csv.gz in, e.g. data/raw")
    fetch(parser.parse_args(argv).raw_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
