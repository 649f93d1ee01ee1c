"""A generated study ported to a researcher's own task runs, passes its tests and reproduces.

docs/your-own-task.md is the guide, and this test runs its console blocks (with the docs
test's machinery, tests/test_doc_commands.py, which checks that every block is run somewhere).
The port (tests/ports/regression/) turns the demo's digit classification into a regression
on scikit-learn's diabetes data, as a researcher would: the research code, configs and tests
replaced, the demo's variants and data config deleted, new raw data tracked with `dvc add`,
and never an edit of the machinery (src/study_machinery/, tests/machinery/). Whatever the
machinery assumes of the demo (classification, epochs, a `training` group, "higher is
better") fails here.
"""

import json
import os
import re
import sys
from pathlib import Path

import copier
import pytest
import yaml
from conftest import REPO, commit_all, copy_study, git, run
from environment import without_outer
from test_doc_commands import Run, Study, console_blocks, take

pytestmark = pytest.mark.slow

PORT = Path(__file__).parent / "ports" / "regression"
GUIDE_PAGE = "docs/your-own-task.md"
# The package keeps the name a default study is generated with: renaming it is a change of
# its own (the folder, pyproject.toml's module-name, contract.py, dvc.yaml), not part of a port.
PACKAGE = "digits_study"
# What the port leaves as generated: the machinery and its tests, the pipeline (the prepare
# stage writes a folder, data/prepared/, whose file prepare.py names) and the CI workflow (its
# data step runs the fetcher conf/study.yaml names).
UNTOUCHED = ["src/study_machinery", "tests/machinery", "dvc.yaml", ".github/workflows/ci.yml"]
# The README's sections for readers and the examples of the authors' guide, as the researcher
# rewrites them for the port (page: old text, new text). The results section between the README's
# markers, and each number placed in its prose, are the machinery's, rewritten by `nox -s record`.
# (Only prose: a README laid over whole would lose what copier wrote in it, the remote's address.)
README_EDITS = {
    "README.md": [
        (
            "Does a small neural network (the proposed method) classify handwritten digits better than\n"
            "two simpler baselines, and which of its components does it need?",
            "Do gradient-boosted trees (the proposed method) predict a patient's disease progression a\n"
            "year on better than a mean predictor and ridge regression, and do they need the blood-serum\n"
            "measurements?",
        ),
        # The finding's numbers: the main metric is another, so are the fragments that place them.
        ("The proposed method's mean accuracy is", "The proposed method's mean RMSE is"),
        ("{proposed}{accuracy}", "{proposed}{rmse}"),
        (
            "A run reads one file, `prepared.npz`, in the folder that\n`data.path` names: two arrays, "
            "`features` (one row per image, its 64 pixels, 8 by 8, flattened) and\n`labels` (its class, an "
            "integer). `src/digits_study/prepare.py` writes the demo's; write\nyours in the same shape "
            "into a folder of your own and give that folder instead of the demo's:",
            "A run reads one file, `diabetes.npz`, in the folder that\n`data.path` names: `features` "
            "(one row per patient, ten baseline measurements), `target`\n(the progression a year on) and "
            "`columns` (the measurements' names). `src/digits_study/prepare.py`\nwrites it from "
            "scikit-learn's copy; write yours in the same shape and give its folder instead:",
        ),
        (" (images of another size:\n`data.image_shape=[HEIGHT,WIDTH]`)", ""),
        ("variant=baseline/knn", "variant=baseline/ridge"),
    ],
    "AUTHORING.md": [
        ("the `features` and\n`labels` arrays", "the `features`, `target`\nand `columns` arrays"),
        ("k-nearest-neighbours baseline on seed 3", "ridge regression baseline on seed 3"),
        ("variant=baseline/knn seed=3", "variant=baseline/ridge seed=3"),
        ("outputs/small/baseline/knn/seed_3/", "outputs/small/baseline/ridge/seed_3/"),
        ("ablation/narrower", "ablation/stumps"),
        ("hidden_units: [50]", "max_depth: 1"),
        ("`training.batch_size: 64`", "`boosting.learning_rate: 0.1`"),
        (
            "model.hidden_units: [100] -> [50]; training.batch_size: 128 -> 64",
            "boosting.learning_rate: 0.05 -> 0.1; model.max_depth: 2 -> 1",
        ),
        (
            "conf/{data,preprocessing,augmentation,model,training}/",
            "conf/{data,features,preprocessing,model,boosting}/",
        ),
        (
            "widen the hidden layer in `conf/model/mlp.yaml`",
            "deepen the trees in `conf/model/gradient_boosting.yaml`",
        ),
    ],
}


def nox(study: Path, *args: str):
    return run([sys.executable, "-m", "nox", "--no-color", *args], study, PYTHONHASHSEED="0")


def uv(study: Path, *args: str):
    return run(["uv", "run", "--frozen", "--no-sync", *args], study, PYTHONHASHSEED="0")


def rewrite_the_readmes_prose(study: Study) -> None:
    """What the guide asks in words: the README's sections for readers rewritten (their `to
    write` lines deleted) and the examples of AUTHORING.md, the title in both."""
    for page, edits in README_EDITS.items():
        path = study.file(page)
        text = path.read_text()
        for old, new in edits:
            assert old in text, f"the generated {page} no longer says {old!r}: update README_EDITS"
            text = text.replace(old, new)
        text = "".join(line for line in text.splitlines(True) if not line.startswith("<!-- to write:"))
        title = f"# {'' if page == 'README.md' else 'Working on '}Diabetes Progression Study"
        path.write_text(re.sub(r"(?m)^# .*$", title, text, count=1))


def the_guides_table_row_is_the_readmes(study: Study) -> None:
    """The row the guide shows (up to its `...`) starts a row of the README, digit for digit."""
    guide = (REPO / GUIDE_PAGE).read_text()
    shown = re.search(r"^(\| baseline/mean \|.*?) \.\.\.$", guide, re.M)
    assert shown, f"{GUIDE_PAGE} shows no row of baseline/mean"
    readme = study.file("README.md").read_text().splitlines()
    assert any(line.startswith(shown[1]) for line in readme), f"no README row starts {shown[1]!r}"


# The guide's steps, in its order; tests/test_doc_commands.py counts its blocks as run by these.
GUIDE = [
    Run(GUIDE_PAGE, "git rm -q"),
    Run(GUIDE_PAGE, "cp -r"),
    Run(GUIDE_PAGE, "study_machinery fetch"),
    rewrite_the_readmes_prose,
    Run(GUIDE_PAGE, '"Port the study to diabetes progression"'),
    the_guides_table_row_is_the_readmes,
    Run(GUIDE_PAGE, "nox -s reproduce"),
]
# The guide's renaming, after the port is committed (it edits contract.py, as the guide says).
RENAMING = [Run(GUIDE_PAGE, "git mv src/digits_study")]


def test_a_study_ported_to_a_regression_task_records_passes_its_tests_and_reproduces(template, tmp_path):
    study_dir = copy_study(template, tmp_path / "my-study")
    (tmp_path / "template").symlink_to(template)
    generated = git(study_dir, "rev-parse", "HEAD").strip()
    assert git(study_dir, "log", "-1", "--format=%s").strip() == "Record the first result"

    study = Study(tmp_path, without_outer({**os.environ, "PYTHONHASHSEED": "0"}))
    study.cwd = study_dir
    blocks = console_blocks()
    take(GUIDE, study, blocks)
    status = uv(study_dir, "python", "-m", "study_machinery", "status")
    assert status.returncode == 0 and "unused" not in status.stdout, status.stdout + status.stderr

    # The smoke tier's search minimised RMSE (lower is better): each choice is its lowest mean.
    for variant in ("proposed", "baseline/ridge"):
        ledger = json.loads((study_dir / f"results/smoke/search/{variant}.json").read_text())
        scores = [trial["score"] for trial in ledger["trials"] if trial["state"] == "complete"]
        assert ledger["better"] == "lower" and ledger["chosen"]["score"] == min(scores)
        assert (study_dir / f"conf/tuned/smoke/{variant}.yaml").is_file()
    assert not (study_dir / "results/smoke/search/baseline/mean.json").exists(), "declared: not searched"

    # The prepare stage's folder holds what prepare.py writes, and nothing of the demo's.
    assert [path.name for path in (study_dir / "data/prepared").iterdir()] == ["diabetes.npz"]
    summary = json.loads((study_dir / "results/small/metrics.json").read_text())
    assert list(summary) == ["proposed", "ablation/no_serum", "baseline/mean", "baseline/ridge"]
    assert {metric: stats["n"] for metric, stats in summary["proposed"].items()} == {"rmse": 5, "r2": 5}
    mean, method = summary["baseline/mean"]["rmse"]["mean"], summary["proposed"]["rmse"]["mean"]
    assert mean > method, "boosted trees beat predicting the mean"

    readme = (study_dir / "README.md").read_text()
    section = readme[readme.index("<!-- results:begin -->") : readme.index("<!-- results:end -->")]
    assert "| variant | rmse ↓ | 95% CI | r2 ↑ (secondary) | 95% CI |" in section
    # The mean predictor's rmse is higher than the method's: worse, as lower is better.
    differences = section[section.index("| vs. proposed |") :].splitlines()
    mean_row = next(line for line in differences if line.startswith("| baseline/mean |"))
    difference = r"\+[\d.]+ \[\+[\d.]+, \+[\d.]+\]"
    assert re.match(rf"\| baseline/mean \| {difference} \| [<\d.]+ \| worse \|", mean_row), mean_row
    assert "train_rmse, test_rmse per boosting round" in section
    assert "knn" not in readme and "digit" not in readme.lower().replace("digits_study", "")
    # The finding's numbers are the record's RMSE, placed as the fragments numbers.md gives.
    listed = (study_dir / "results/small/numbers.md").read_text()
    fragment = re.search(r"`(<!-- \\result\{proposed\}\{rmse\}\{mean\} -->.*?<!-- end -->)`", listed)
    assert fragment and fragment[1] in readme, "the README's finding is the record's RMSE"

    # The CI workflow's data step, in a fresh clone: the port's own raw data, byte for byte as
    # recorded in data/raw.dvc.
    workflow = yaml.safe_load((study_dir / ".github/workflows/ci.yml").read_text())
    [fetch] = [step["run"] for step in workflow["jobs"]["check"]["steps"] if "fetch" in step.get("run", "")]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(study_dir), str(clone))
    fetched = run(["bash", "-c", fetch], clone)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert git(clone, "status", "--porcelain") == "", "the fetched data has the hash data/raw.dvc records"

    lint = nox(study_dir, "-s", "lint")
    assert lint.returncode == 0, lint.stdout[-5000:] + lint.stderr[-3000:]

    # The port never touched the machinery: its files are those the study was generated with.
    changed = git(study_dir, "diff", "--name-only", generated, "HEAD", "--", *UNTOUCHED).split()
    assert changed == [], f"the port edited the machinery: {changed}"
    assert git(study_dir, "status", "--porcelain") == ""

    # The renaming: nothing runs again, and an update with the new name changes nothing.
    take(RENAMING, study, blocks)
    assert not (study_dir / f"src/{PACKAGE}").exists()
    assert 'PACKAGE = "diabetes_study"' in (study_dir / "src/study_machinery/contract.py").read_text()
    commit_all(study_dir, "Rename the package")
    copier.run_update(study_dir, defaults=True, overwrite=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    assert git(study_dir, "status", "--porcelain") == "", "the update with the new name changed nothing"
