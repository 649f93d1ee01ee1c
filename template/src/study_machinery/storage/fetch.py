"""The raw data on a machine without this study's DVC remote: `python -m study_machinery fetch`.

CI, and a reader's clone with no access to the remote, get data/raw from where conf/study.yaml's
`fetch_raw_data` says: a module of the research package, run as `python -m MODULE data/raw`
(the demo's copies its data out of scikit-learn), then tracked with `dvc add`. Without one
(null) the data comes from the remote with `dvc pull`.

The data fetched must be the data the study recorded: when data/raw.dvc names other content,
the pointer is put back as it was and the command fails, so that a commit never records it.
"""

import subprocess
import sys

import yaml

from study_machinery import contract
from study_machinery.core import paths
from study_machinery.core.errors import StudyError

POINTER = paths.shown(paths.RAW_POINTER)  # data/raw.dvc, as the messages name it


def _recorded() -> str | None:
    """The MD5 that data/raw.dvc records for the folder, None when there is no such file."""
    if not paths.RAW_POINTER.is_file():
        return None
    try:
        outs = (yaml.safe_load(paths.RAW_POINTER.read_text(encoding="utf-8")) or {}).get("outs", [])
        return outs[0].get("md5") if outs else None
    except (yaml.YAMLError, AttributeError, IndexError, TypeError):
        raise StudyError(
            f"{POINTER} is not a .dvc file DVC wrote: restore it with `git checkout {POINTER}`."
        ) from None


def _run(*command: str) -> None:
    if subprocess.run(command, cwd=paths.ROOT, check=False).returncode != 0:
        raise StudyError(f"`{' '.join(command)}` failed (its own message is above).")


def check_module(module: str, shown: str) -> None:
    """A fetcher runs code: only a module of the research package is run, never another's."""
    if module != contract.PACKAGE and not module.startswith(f"{contract.PACKAGE}."):
        raise StudyError(
            f"{shown}: fetch_raw_data must name a module of your package {contract.PACKAGE} "
            f"(such as {contract.PACKAGE}.fetch_data), not {module!r}; null fetches data/raw with `dvc pull`."
        )


def fetch_raw(module: str | None, shown: str) -> str:
    """Put data/raw in place from `module`, or with `dvc pull` when it is None; what was done, in words."""
    raw = paths.shown(paths.RAW_DATA_DIR)
    if module is None:
        _run(sys.executable, "-m", "dvc", "pull", "--quiet", POINTER)
        return f"{raw} pulled from the DVC remote"
    check_module(module, shown)
    before = paths.RAW_POINTER.read_text(encoding="utf-8") if paths.RAW_POINTER.is_file() else None
    recorded = _recorded()
    _run(sys.executable, "-m", module, raw)
    _run(sys.executable, "-m", "dvc", "add", "--quiet", raw)
    fetched = _recorded()
    if before is not None and recorded is not None and fetched != recorded:
        paths.RAW_POINTER.write_text(before, encoding="utf-8")
        raise StudyError(
            f"{module} put other data in {raw} than {POINTER} records (MD5 {fetched}, "
            f"recorded {recorded}); {POINTER} is kept as committed. Fetch the recorded "
            "data with `uv run dvc pull`, or, if the new data is meant, `uv run dvc add data/raw` and "
            "record again."
        )
    return f"{raw} fetched by {module} and tracked by DVC ({POINTER})"
