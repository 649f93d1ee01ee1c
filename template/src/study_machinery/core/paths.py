"""Where a study's files are: every path the machinery reads or writes is made here.

The commands run from the study's root (cli.py moves there first), so that a relative
path in a config, such as `data.path`, starts at the root wherever the command was typed.
dvc.yaml lists the same folders for DVC.
"""

from pathlib import Path

# src/study_machinery/core/paths.py -> the study's root, three folders up from this package.
ROOT = Path(__file__).resolve().parents[3]
CONF_DIR = ROOT / "conf"
STUDY_FILE = CONF_DIR / "study.yaml"
RUNS_DIR = ROOT / "runs"
# A hyperparameter search's runs (search/): trials/TIER/VARIANT/trial_NNN/seed_SEED.
TRIALS_DIR = ROOT / "trials"
# Folders under conf/: each tuned variant's search space, conf/search/VARIANT.yaml, and the
# configuration a search chose, conf/tuned/TIER/VARIANT.yaml, which conf/config.yaml reads.
SEARCH_SPACES, TUNED = "search", "tuned"
# The folders under conf/ that are no config group of a run: where runs execute (executors/) and
# the search spaces. Hydra never composes them into a run's config.
NOT_RUN_GROUPS = frozenset({"executor", SEARCH_SPACES})
RESULTS_DIR = ROOT / "results"
README = ROOT / "README.md"
LICENSE = ROOT / "LICENSE"
LOCK = "uv.lock"  # the environment, every package pinned (core/locked.py reads it)
PYTHON_VERSION = ROOT / ".python-version"  # the Python the study runs on, which uv reads
DVC_YAML, DVC_LOCK = "dvc.yaml", "dvc.lock"  # the pipeline, and what its last run recorded
# The raw data, and DVC's record of it (storage/fetch.py).
RAW_DATA_DIR, RAW_POINTER = ROOT / "data" / "raw", ROOT / "data" / "raw.dvc"
TRACKING_FILE = CONF_DIR / "tracking.yaml"  # the trackers every run logs to (tracking/settings.py)
PUSH_LOG = ROOT / ".dvc" / "tmp" / "push.log"  # DVC's whole output of the last push (storage/push.py)
CLEAN_ROOM_LOG = "clean-room.log"  # beside reproduce's clean room: its installs and DVC's output
# A release (release/): the citation it stamps with its version and date, the Zenodo description
# made from that, and the archive it writes into dist/ (git ignores dist/).
CITATION, ZENODO = ROOT / "CITATION.cff", ROOT / ".zenodo.json"
RELEASED = (CITATION, ZENODO)  # what a release commits
DIST_DIR = ROOT / "dist"
# The run folders, as Hydra names them: by tier (or scale), variant and seed, never by time,
# so that two runs started in the same second do not share a folder.
RUN_SUBDIR = "${variant}/seed_${seed}"


# The files of one run's folder (runs/TIER/VARIANT/seed_S/), each named here only.
RUN_METRICS = "metrics.json"  # what the research code returned: the run has finished once it is there
RUN_RECORD = "run.json"  # the run's provenance: config, identity, code, environment, compute
RUN_LOG = "run.log"  # its log, the research code's warnings included
EPOCHS = "epochs.json"  # its per-epoch scores (core/epochs.py)
SUBMITTED = "submitted.json"  # in an attempt: the SLURM task given the run (executors/slurm_jobs.py)
RUN_STARTED = "started.json"  # the identity of the run its latest attempt started: the same resumes
# A run of several processes (runs/ranks.py): the launcher's output, torch.distributed.run's and the
# processes', in the launch's scratch folder; kept in the attempt where the launcher failed with no
# process's error to say why.
LAUNCHER_LOG = "launcher.log"
# The files of a tier's recorded result (results/TIER/): the aggregate stage's, then the report's.
SUMMARY = "metrics.json"  # each variant's mean, spread and interval per metric
COMPARISONS = "comparisons.json"  # each variant against the method: difference, p-values, verdict
COMPUTE = "compute.json"  # the compute the runs used
RUNS_TABLE = "runs.csv"  # one row per run
CURVES_TABLE = "curves.csv"  # the learning curves
TABLE_MD, TABLE_TEX, DIFFERENCES_TEX = "table.md", "table.tex", "differences.tex"
NUMBERS_TEX = "numbers.tex"  # the main result's numbers as LaTeX macros, for prose (report/numbers.py)
NUMBERS_MD = "numbers.md"  # the same numbers as fragments for the README's prose
PAPER_DIR, PAPER_BUILD = "paper", "build"  # the paper (a copy-time option), built into paper/build/
FIGURE, CURVES_FIGURE = "figure", "curves"  # each drawn as .png and .pdf


def runs_dir(tier: str) -> Path:
    """Where a tier's runs are: runs/TIER."""
    return RUNS_DIR / tier


def run_dir(runs: Path, variant: str, seed: int) -> Path:
    """The folder of one run in a tier's runs folder: VARIANT/seed_SEED (see RUN_SUBDIR)."""
    return runs / variant / f"seed_{seed}"


# A tier's run executes in a folder beside its own, VARIANT/seed_SEED.attempt, which replaces
# the run's folder only once the run has finished (runs/folder.py): a recorded result is never emptied
# for a run that may not finish. While one folder is swapped for the other, the old one is
# VARIANT/seed_SEED.replaced.
ATTEMPT, REPLACED = ".attempt", ".replaced"


def attempt_dir(folder: Path) -> Path:
    """Where the run of `folder` executes until it finishes."""
    return folder.with_name(folder.name + ATTEMPT)


def replaced_dir(folder: Path) -> Path:
    return folder.with_name(folder.name + REPLACED)


def results_dir(tier: str) -> Path:
    return RESULTS_DIR / tier


# Does it scale? The method against each variant across the tiers (report/scaling.py): results/scaling/.
SCALING_DIR = RESULTS_DIR / "scaling"


# A tier's search (search/): one ledger per tuned variant, results/TIER/search/VARIANT.json, and
# the figure of the search, results/TIER/search.png and .pdf.
SEARCH, SEARCH_FIGURE = "search", "search"


def trial_dir(tier: str, variant: str, trial: int) -> Path:
    """The folder of one trial of a variant's search: its runs are its seed_SEED folders."""
    return TRIALS_DIR / tier / variant / f"trial_{trial:03d}"


def ledger_file(tier: str, variant: str) -> Path:
    return results_dir(tier) / SEARCH / f"{variant}.json"


def journal_file(tier: str, variant: str) -> Path:
    """Optuna's own storage of the search (its JournalStorage), for Optuna's tools to load."""
    return results_dir(tier) / SEARCH / f"{variant}.optuna.log"


def space_file(variant: str, conf_dir: Path = CONF_DIR) -> Path:
    return conf_dir / SEARCH_SPACES / f"{variant}.yaml"


def tuned_file(tier: str, variant: str, conf_dir: Path = CONF_DIR) -> Path:
    return conf_dir / TUNED / tier / f"{variant}.yaml"


def shown(path: Path) -> str:
    """A path as a reader would type it: relative to the study's root when it is inside it."""
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def single_run_overrides() -> list[str]:
    """Hydra settings of runs started by hand (one, or a --multirun): outputs/SCALE/VARIANT/seed_SEED."""
    return [
        "hydra.job.name=run",
        "hydra.run.dir=outputs/${scale}/" + RUN_SUBDIR,
        "hydra.sweep.dir=outputs/${scale}",
        f"hydra.sweep.subdir={RUN_SUBDIR}",
    ]
