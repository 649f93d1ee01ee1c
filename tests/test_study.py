"""Generated studies run: their first result is recorded, and their own nox sessions pass.

These are the slow tests: each study locks its environment, runs its pipeline
once at copy time and again in `nox -s reproduce`.
"""

import csv
import fnmatch
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import CONFIG, REPO, commit_all, copy_study, git, run
from environment import without_outer
from test_generate import expected_files

pytestmark = pytest.mark.slow

OTHER = {
    # Unusual answers that the questions accept: quotes, non-ASCII letters, at most 100 characters.
    "project_name": "Études de chiffres manuscrits: l'«Œuvre» complète, 2027 — n° 1",
    "import_name": "chiffres",
    "author_name": 'Zoë O\'Brien "Ångström" Łukasiewicz',
    "license": "Apache-2.0",
    "python_version": "3.10",
    "n_seeds": 3,
    "paper": True,
}


def nox(study, *args: str, **env: str):
    return run([sys.executable, "-m", "nox", "--no-color", *args], study, PYTHONHASHSEED="0", **env)


ANSWERS = {"defaults": {}, "other-answers": OTHER}
# Where each study goes: the other answers' study into a path with spaces and non-ASCII letters.
FOLDERS = {"defaults": "study", "other-answers": "Études à Zoë/my study"}


@pytest.fixture(scope="module")
def studies(template, tmp_path_factory):
    """Each study is generated once, on first use, and shared by the tests of this module."""
    made = {}

    def _study(name: str):
        if name not in made:
            dst = copy_study(template, tmp_path_factory.mktemp("study") / FOLDERS[name], **ANSWERS[name])
            made[name] = (dst, ANSWERS[name])
        return made[name]

    return _study


# The tests of each study run in one pytest-xdist worker (conftest.py), which makes it once.
@pytest.fixture(params=list(ANSWERS))
def study(request, studies):
    return studies(request.param)


@pytest.fixture
def default_study(studies):
    """For paths that do not depend on the answers: checked once, on the default study."""
    return studies("defaults")[0]


def test_the_first_commit_holds_the_recorded_result(study):
    folder, answers = study
    tracked = set(git(folder, "ls-files").splitlines())
    expected = expected_files(
        answers.get("import_name", "digits_study"), recorded=True, paper=answers.get("paper", False)
    )
    assert tracked == expected
    assert ".github/workflows/ci.yml" in tracked
    assert git(folder, "status", "--porcelain") == ""
    summary = json.loads((folder / "results/small/metrics.json").read_text())
    assert len(summary) == 6, "proposed, two baselines and three ablations"
    assert {stats["accuracy"]["n"] for stats in summary.values()} == {answers.get("n_seeds", 5)}
    readme = (folder / "README.md").read_text()
    assert "| proposed |" in readme and "![accuracy, macro_f1 per variant" in readme
    assert f"over n={answers.get('n_seeds', 5)} seeds" in readme
    assert "![Learning curves per variant: train_loss, train_accuracy, test_loss, test_accuracy" in readme


def test_the_learning_curves_agree_with_the_runs_records(default_study):
    """curves.csv, from the runs' own epochs.json: the mean and n of every score at every epoch."""
    with (default_study / "results/small/curves.csv").open() as handle:
        curves = {(row["variant"], row["score"], int(row["epoch"])): row for row in csv.DictReader(handle)}
    seen = {}
    for path in sorted((default_study / "runs/small").rglob("epochs.json")):
        variant = path.parent.parent.relative_to(default_study / "runs/small").as_posix()
        for record in json.loads(path.read_text()):
            for score, value in record.items():
                if score != "epoch":
                    seen.setdefault((variant, score, record["epoch"]), []).append(value)
    # The MLP and its three ablations, four scores, 30 epochs, 5 seeds each; not k-NN nor logistic regression.
    assert {variant for variant, _, _ in seen} == {
        "proposed",
        "ablation/no_augmentation",
        "ablation/no_standardization",
        "ablation/no_weight_decay",
    }
    assert len(seen) == 4 * 4 * 30 and {len(values) for values in seen.values()} == {5}
    assert set(curves) == set(seen)
    for key, values in seen.items():
        row = curves[key]
        assert int(row["n"]) == len(values)
        assert float(row["mean"]) == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert float(row["ci_low"]) <= float(row["mean"]) <= float(row["ci_high"])
    summary = json.loads((default_study / "results/small/metrics.json").read_text())
    for variant in {variant for variant, _, _ in seen}:
        # The last epoch's test accuracy is the run's accuracy: the same network, the same images.
        last = curves[(variant, "test_accuracy", 30)]
        assert float(last["mean"]) == pytest.approx(summary[variant]["accuracy"]["mean"], rel=1e-12)
    for kind, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        assert (default_study / f"results/small/curves.{kind}").read_bytes().startswith(magic)


@pytest.mark.xdist_group("other-answers")
def test_the_study_reproduces_right_after_copy(studies):
    """With the other answers. The default study is reproduced right after its copy as the
    tutorial does it, then in a stranger's clone as docs/reproduce.md does it, by
    tests/test_doc_commands.py."""
    folder, _ = studies("other-answers")
    result = nox(folder, "-s", "reproduce")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "REPRODUCED: every recorded metric and claim is within its tolerance." in result.stdout
    assert "metric  " in result.stdout and "verdict" in result.stdout
    assert git(folder, "status", "--porcelain") == "", "reproduce must leave the working tree alone"


@pytest.mark.xdist_group("other-answers")
def test_the_study_tests_pass_but_the_main_reproduction(studies):
    """The study's tests, the slow ones too, but its two clean-room reproductions: the main tier's
    is checked right after the copy (above), the smoke tier's test runs in the port's whole
    suite (tests/test_own_task.py). The default study runs its fast tests in its CI workflow,
    in a fresh clone (below)."""
    folder, _ = studies("other-answers")
    result = nox(folder, "-s", "tests", "--", "-k", "not reproduces")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " failed" not in result.stdout
    assert "2 deselected" in result.stdout, "the two reproductions did not run, the other slow test did"


def test_a_hand_edited_result_fails_naming_the_metric_and_uncommitted_edits_stay_out(default_study):
    """A committed result typed in by hand (a mean, and a claim turned round), and an uncommitted
    edit of a config beside it.

    On the smoke tier, which takes seconds: the check is the same at every tier. Only the edited
    numbers fail: the uncommitted edit, which would change every score, is listed and not run.
    """
    folder = default_study
    recorded = folder / "results/smoke/metrics.json"
    summary = json.loads(recorded.read_text())
    true_mean = summary["proposed"]["accuracy"]["mean"]
    summary["proposed"]["accuracy"]["mean"] = 0.5
    recorded.write_text(json.dumps(summary, indent=2) + "\n")
    # A claim the other way round: a variant worse than the method (it scores lower in a metric
    # where higher is better) now reads as better.
    claims = folder / "results/smoke/comparisons.json"
    comparisons = json.loads(claims.read_text())
    variant, metric = next(
        (variant, metric)
        for variant, metrics in comparisons.items()
        for metric, tests in metrics.items()
        if tests["paired"]["ci_high"] < 0
    )
    paired = comparisons[variant][metric]["paired"]
    paired["difference"], paired["ci_low"], paired["ci_high"] = (
        -paired["difference"],
        -paired["ci_high"],
        -paired["ci_low"],
    )
    claims.write_text(json.dumps(comparisons, indent=2) + "\n")
    git(folder, "commit", "-qam", "a result typed in by hand")
    model = folder / "conf/model/mlp.yaml"
    model.write_text(model.read_text().replace("weight_decay: 1.0e-3", "weight_decay: 0.5"))
    try:
        result = nox(folder, "-s", "reproduce", "--", "smoke")
    finally:
        git(folder, "reset", "--quiet", "--hard", "HEAD~1")
    assert result.returncode == 1
    assert "1 uncommitted change(s) are not part of this check" in result.stdout
    assert "M conf/model/mlp.yaml" in result.stdout
    assert "checks pass for the smoke tier" in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("NOT REPRODUCED: ")]
    assert failed[0] == (
        f"NOT REPRODUCED: the claim that {variant} is better than proposed in {metric} "
        "did not reproduce (the re-run: worse)"
    )
    numbers = failed[1].removeprefix("NOT REPRODUCED: ").split("; ")
    assert numbers[0] == f"proposed accuracy mean recorded 0.5 reproduced {true_mean!r}"
    assert [number.split(" recorded ")[0] for number in numbers[1:]] == [
        f"{variant} - proposed {metric} {statistic}" for statistic in ("difference", "ci_low", "ci_high")
    ]
    assert len(failed) == 2


def test_missing_data_names_the_command_that_restores_it(default_study):
    """Neither in the study's cache nor in its remote (where the copy pushed it)."""
    folder = default_study
    remote = folder.parent / f"{folder.name}-dvc-remote"
    places = {folder / ".dvc/cache": folder.parent / "cache-aside", remote: folder.parent / "remote-aside"}
    for place, aside in places.items():
        shutil.move(place, aside)
    try:
        result = nox(folder, "-s", "reproduce")
    finally:
        for place, aside in places.items():
            shutil.rmtree(place, ignore_errors=True)
            shutil.move(aside, place)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "error: the data tracked by data/raw.dvc is neither in this study's DVC cache" in output
    assert "uv run dvc pull" in output
    assert "Traceback" not in output


def test_missing_data_folder_stops_repro_and_record_and_data_raw_dvc_stays_as_committed(default_study):
    """data/raw deleted, as in a clone without `dvc pull`, then emptied.

    Before any stage runs, `dvc repro` records a `dvc add`-ed folder as it finds it: a missing one
    it refuses, an empty one it would record, so `nox -s record` checks first.
    """
    raw, record = default_study / "data/raw", default_study / "data/raw.dvc"
    committed, aside = record.read_bytes(), default_study.parent / "raw-aside"
    shutil.move(raw, aside)
    try:
        result = uv_run(default_study, "dvc", "repro")
        assert result.returncode != 0
        assert "missing data 'source': data/raw" in result.stderr
        assert record.read_bytes() == committed
        for state in ("missing", "empty"):
            result = nox(default_study, "-s", "record")
            output = result.stdout + result.stderr
            assert result.returncode != 0
            assert f"error: data/raw is {state}" in output, output
            assert "restore it with `uv run dvc checkout data/raw.dvc` (or `uv run dvc pull`" in output
            assert "Traceback" not in output
            assert record.read_bytes() == committed
            raw.mkdir(exist_ok=True)
    finally:
        shutil.rmtree(raw, ignore_errors=True)
        shutil.move(aside, raw)
    assert git(default_study, "status", "--porcelain") == ""


def test_missing_data_in_an_emptied_folder_says_how_to_undo_what_dvc_recorded(default_study):
    """`dvc repro` itself records an empty data/raw (DVC's rule for data sources); the advice undoes it."""
    raw, aside = default_study / "data/raw", default_study.parent / "raw-aside"
    shutil.move(raw, aside)
    raw.mkdir()
    try:
        result = uv_run(default_study, "dvc", "repro")
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "error: data/raw is empty. If `git diff data/raw.dvc` shows a change" in output
        assert "Traceback" not in output
        git(default_study, "checkout", "data/raw.dvc")
        assert uv_run(default_study, "dvc", "checkout", "data/raw.dvc").returncode == 0
        assert (raw / "digits.csv.gz").read_bytes() == (aside / "digits.csv.gz").read_bytes()
        result = uv_run(default_study, "dvc", "repro")
        assert result.returncode == 0, result.stdout + result.stderr
        assert git(default_study, "status", "--porcelain") == ""
    finally:
        if not (raw / "digits.csv.gz").is_file():
            shutil.rmtree(raw, ignore_errors=True)
            shutil.copytree(aside, raw)
            git(default_study, "checkout", "data/raw.dvc")
            uv_run(default_study, "dvc", "checkout")
        shutil.rmtree(aside)


def test_update_works_from_inside_the_study(default_study):
    folder = default_study
    result = run(["copier", "update", "--trust", "--defaults", "--vcs-ref=HEAD"], folder)
    assert result.returncode == 0, result.stderr
    assert git(folder, "status", "--porcelain") == "", "nothing changed in the template, so nothing changes"


def test_an_update_of_the_machinery_and_the_tools_executes_no_run(default_study, template, tmp_path):
    """A release that changes a module of the machinery and a tool's pin (a dependency group):
    after `copier update`, record locks again and executes no run; the result stays as it was."""
    study = working_copy(default_study, tmp_path / "study")
    release = tmp_path / "next-release"
    git(template, "worktree", "add", "--quiet", "--detach", str(release), "v0.0.0")
    try:
        plan = release / "template/src/study_machinery/runs/plan.py"
        plan.write_text(plan.read_text() + '\n\ndef added_by_test() -> None:\n    """A new function."""\n')
        pyproject = release / "template/pyproject.toml.jinja"
        pyproject.write_text(pyproject.read_text().replace('test = ["pytest>=8"]', 'test = ["pytest>=8.1"]'))
        commit_all(release, "the machinery and a tool's pin")
        git(release, "tag", "v0.0.1")
        updated = run(["copier", "update", "--trust", "--defaults", "--vcs-ref=v0.0.1"], study)
    finally:
        # The tests after this one make their studies from v0.0.0, the template as it is.
        subprocess.run(["git", "tag", "--delete", "v0.0.1"], cwd=template, capture_output=True, check=False)
        git(template, "worktree", "remove", "--force", str(release))
    assert updated.returncode == 0, updated.stderr
    assert "def added_by_test" in (study / "src/study_machinery/runs/plan.py").read_text()
    assert '"pytest>=8.1"' in (study / "pyproject.toml").read_text()
    commit_all(study, "Update to the template's next release")
    before = run_records(study)

    recorded = nox(study, "-s", "record")
    said = recorded.stdout + recorded.stderr
    assert recorded.returncode == 0, said
    assert "all tiers: 0 of 42 runs to execute" in said
    assert run_records(study) == before
    assert git(study, "status", "--porcelain", "--", "results", "runs", "README.md") == ""
    assert set(git(study, "diff", "--name-only").split()) <= {"uv.lock", "dvc.lock"}


def test_record_with_nothing_changed_changes_nothing(default_study):
    result = nox(default_study, "-s", "record")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "didn't change, skipping" in result.stdout + result.stderr
    assert git(default_study, "status", "--porcelain") == ""


def test_a_corrupted_cache_object_is_named_and_the_advice_given_works(default_study):
    """The advice for an intact working copy works, whether or not the remote has the data."""
    raw = yaml.safe_load((default_study / "data/raw.dvc").read_text())["outs"][0]["md5"]
    listing = default_study / ".dvc/cache/files/md5" / raw[:2] / raw[2:]
    original = listing.read_bytes()
    listing.chmod(0o644)
    listing.write_bytes(original.replace(b"digits", b"digitz"))
    try:
        verified = nox(default_study, "-s", "verify")
        reproduced = nox(default_study, "-s", "reproduce", "--", "smoke")
        assert verified.returncode != 0
        assert f"corrupted: {listing}" in verified.stdout
        assert reproduced.returncode != 0
        message = reproduced.stdout + reproduced.stderr
        assert "corrupted DVC cache" in message
        advice = "`uv run dvc commit --force data/raw.dvc`"
        assert advice in message
        listing.unlink()
        committed = run(["uv", "run", "--frozen", *advice.strip("`").split()[2:]], default_study)
        assert committed.returncode == 0, committed.stderr
    finally:
        if not listing.exists():
            listing.write_bytes(original)
    assert listing.read_bytes() == original
    assert nox(default_study, "-s", "verify").returncode == 0
    assert git(default_study, "status", "--porcelain") == ""


def test_fetch_keeps_the_data_pointer_runs_only_the_packages_modules_and_pulls_without_one(default_study):
    """`study_machinery fetch`, what CI runs: conf/study.yaml's fetch_raw_data, or `dvc pull` (null)."""
    raw, pointer, study_file = (
        default_study / "data/raw",
        default_study / "data/raw.dvc",
        default_study / "conf/study.yaml",
    )
    committed, settings = pointer.read_bytes(), study_file.read_text()
    fetcher = default_study / "src/digits_study/fetch_demo_data.py"
    original = fetcher.read_text()

    def fetch():
        result = uv_run(default_study, "python", "-m", "study_machinery", "fetch")
        return result.returncode, result.stdout + result.stderr

    try:
        # Other data than the study recorded: refused, and data/raw.dvc stays as committed.
        fetcher.write_text(
            original.replace(
                'raw_dir / "digits.csv.gz")',
                'raw_dir / "digits.csv.gz")\n    (raw_dir / "extra.txt").write_text("x")',
            )
        )
        code, output = fetch()
        assert code == 1, output
        assert (
            "error: digits_study.fetch_demo_data put other data in data/raw than data/raw.dvc records"
            in output
        )
        assert "data/raw.dvc is kept as committed" in output and "Traceback" not in output
        assert pointer.read_bytes() == committed
        fetcher.write_text(original)
        (raw / "extra.txt").unlink()
        # A module outside the package is never run.
        study_file.write_text(
            settings.replace("fetch_raw_data: digits_study.fetch_demo_data", "fetch_raw_data: os")
        )
        code, output = fetch()
        assert (
            code == 1
            and "error: conf/study.yaml: fetch_raw_data must name a module of your package" in output
        )
        # null: from the DVC remote, the folder deleted first as in a fresh clone.
        study_file.write_text(
            settings.replace("fetch_raw_data: digits_study.fetch_demo_data", "fetch_raw_data: null")
        )
        shutil.rmtree(raw)
        # Out of the cache too, so that it comes from the remote.
        md5 = yaml.safe_load(committed)["outs"][0]["md5"]
        cache = default_study / ".dvc/cache/files/md5"
        listing = cache / md5[:2] / md5[2:]
        for entry in [*json.loads(listing.read_text()), {"md5": md5}]:
            (cache / entry["md5"][:2] / entry["md5"][2:]).unlink()
        code, output = fetch()
        assert code == 0, output
        assert "data/raw pulled from the DVC remote" in output
        assert (raw / "digits.csv.gz").is_file()
        # The demo's fetcher, as the study was copied: the same data, the same pointer.
        study_file.write_text(settings)
        shutil.rmtree(raw)
        code, output = fetch()
        assert code == 0 and "data/raw fetched by digits_study.fetch_demo_data and tracked by DVC" in output
    finally:
        fetcher.write_text(original)
        study_file.write_text(settings)
        (raw / "extra.txt").unlink(missing_ok=True)
        if not (raw / "digits.csv.gz").is_file():
            uv_run(default_study, "dvc", "pull", "--quiet")
    assert pointer.read_bytes() == committed
    assert git(default_study, "status", "--porcelain") == ""


def test_the_ci_workflow_passes_in_a_fresh_clone(default_study, tmp_path):
    """Every step of the GitHub workflow, run in a fresh clone as the CI runner would: the default
    study's lint, fast tests and smoke reproduction."""
    workflow = yaml.safe_load((default_study / ".github/workflows/ci.yml").read_text())
    steps = [step["run"] for step in workflow["jobs"]["check"]["steps"] if "run" in step]
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(default_study), str(clone))
    for step in steps:
        if step.startswith("python -m pip install"):
            continue  # uv is there already
        command = step.replace("uvx nox", f"{sys.executable} -m nox --no-color")
        result = run(["bash", "-c", command], clone, PYTHONHASHSEED="0")
        assert result.returncode == 0, f"{step}\n{result.stdout}{result.stderr}"
        if "not slow" in step:
            assert "3 deselected" in result.stdout, "the reproductions are the study's slow tests"


def test_a_release_is_tagged_cited_and_archived_and_the_archive_reproduces_elsewhere_without_the_remote(
    default_study, tmp_path
):
    """`nox -s release`: refused, every reason named, before anything is tagged; then a tag, the
    citation of that version, Zenodo's description, and an archive that, unpacked in another
    folder under another home with the DVC remote gone, reproduces the main result."""
    study = tmp_path / "study"
    shutil.copytree(default_study, study, symlinks=True, ignore=shutil.ignore_patterns(".nox", ".venv"))
    (study / "README.md").write_text((study / "README.md").read_text() + "\nA sentence not committed.\n")
    refused = nox(study, "-s", "release", "--", "one")
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "release one is refused:" in said
    assert "'one' is not a version as PEP 440 writes one" in said
    assert "1 change(s) not committed (README.md)" in said
    git(study, "checkout", "--", "README.md")
    assert git(study, "tag", "--list") == "", "nothing is tagged by a refused release"

    released = nox(study, "-s", "release", "--", "1.0.0")
    said = released.stdout + released.stderr
    assert released.returncode == 0, said
    assert "REPRODUCED" in said and "released 1.0.0: commit " in said
    assert git(study, "tag", "--list").split() == ["v1.0.0"] and git(study, "status", "--porcelain") == ""
    citation = yaml.safe_load((study / "CITATION.cff").read_text())
    assert citation["version"] == "1.0.0" and str(citation["date-released"]) == time.strftime("%Y-%m-%d")
    assert run(["cffconvert", "--validate", "--infile", "CITATION.cff"], study).returncode == 0
    zenodo = json.loads((study / ".zenodo.json").read_text())
    assert zenodo["upload_type"] == "software" and zenodo["version"] == "1.0.0"
    assert zenodo["title"] == citation["title"] and zenodo["description"]
    again = nox(study, "-s", "release", "--", "1.0.0")
    assert again.returncode != 0 and "v1.0.0 is released already" in again.stdout + again.stderr

    elsewhere, home = tmp_path / "elsewhere", tmp_path / "another home"
    home.mkdir()
    with tarfile.open(study / "dist/digits_study-1.0.0.tar.gz") as archive:
        archive.extractall(elsewhere, filter="data")
    unpacked = elsewhere / "digits_study-1.0.0"
    assert (unpacked / "uv.lock").is_file() and (unpacked / "results/small/metrics.json").is_file()
    assert not (unpacked / "runs").exists() and not (unpacked / ".dvc/config.local").exists()
    remote = Path(yaml.safe_load((default_study / ".copier-answers.yml").read_text())["dvc_remote"])
    assert remote.is_dir(), "the first record pushed the data to the study's remote"
    gone = remote.with_name(remote.name + ".gone")
    remote.rename(gone)
    try:
        cache = os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")
        result = nox(unpacked, "-s", "reproduce", HOME=str(home), UV_CACHE_DIR=cache)
        # The README's walk-through puts the data in place from the archive's cache, as reproduce did.
        pull = ["uv", "run", "--frozen", "dvc", "pull", "data/raw.dvc"]
        pulled = run(pull, unpacked, HOME=str(home), UV_CACHE_DIR=cache)
    finally:
        gone.rename(remote)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "REPRODUCED: every recorded metric and claim is within its tolerance." in result.stdout
    assert f"of commit {git(study, 'rev-parse', '--short', 'v1.0.0^{commit}').strip()}" in result.stdout
    assert pulled.returncode == 0 and any((unpacked / "data/raw").iterdir()), pulled.stdout + pulled.stderr
    # The archive holds the tag's history and nothing else of the study's git: no reflog, no origin.
    assert not (unpacked / ".git/logs").exists() and git(unpacked, "remote") == ""


def test_lint_rejects_leftovers_of_a_conflicting_update_and_credentials_in_git(default_study):
    conflicted = default_study / "conf/model/mlp.yaml"
    try:
        original = conflicted.read_text()
        conflicted.write_text(
            original + "<<<<<<< before updating\nepochs: 40\n=======\n>>>>>>> after updating\n"
        )
        (default_study / "noxfile.py.rej").write_text("@@ -1 +1 @@\n")
        # What `dvc remote modify storage secret_access_key ...` without --local writes for an S3 remote.
        with (default_study / ".dvc/config").open("a") as config:
            config.write("    secret_access_key = hunter2\n")
        git(default_study, "add", "--all")
        result = nox(default_study, "-s", "lint")
    finally:
        git(default_study, "reset", "--quiet", "--hard", "HEAD")
        git(default_study, "clean", "--quiet", "--force")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no merge conflict markers" in output and "Failed" in output
    assert "no .rej files left by copier update" in output
    assert "no credentials in .dvc/config: move them with `uv run dvc remote modify --local`" in output
    assert ".dvc/config:" in output and "secret_access_key = hunter2" in output


def test_the_checklist_of_a_fresh_study_asks_for_its_readers_sections_and_a_release_and_sees_stale_results(
    study,
):
    """All a fresh study lacks for its readers is what only its authors can give: the README's
    sections in their words, and a release (the ACM badges' criteria); then it sees stale results."""
    folder, _ = study
    result = nox(folder, "-s", "checklist")
    assert result.returncode == 1, result.stdout + result.stderr
    todo = re.findall(r"^  \[to do\] (.+)$", result.stdout, re.M)
    assert todo == [
        "The README's sections written for readers",
        "Artifacts Available",
        "Artifacts Evaluated: Functional",
        "Artifacts Evaluated: Reusable",
    ], result.stdout
    assert "4 section(s) still as the template wrote them: " in result.stdout
    assert "; Use it; " in result.stdout
    assert "13 of 23 done, 4 to do." in result.stdout
    assert "[done] Numbers in the prose come from the record" in result.stdout
    assert "[check yourself] Hyperparameters: how they were chosen" in result.stdout, "small is not searched"
    assert "[check yourself] Pre-trained models" in result.stdout
    assert "[check yourself] Data others can fetch" in result.stdout, "the remote is a local folder"
    # Its sections written (their lines deleted), the study is functional and reusable; a release is left.
    readme = folder / "README.md"
    original = readme.read_text()
    written = [line for line in original.splitlines(True) if not line.startswith("<!-- to write:")]
    readme.write_text("".join(written))
    try:
        written = nox(folder, "-s", "checklist")
    finally:
        readme.write_text(original)
    assert re.findall(r"^  \[to do\] (.+)$", written.stdout, re.M) == ["Artifacts Available"], written.stdout
    assert "16 of 23 done, 1 to do." in written.stdout
    model = folder / "conf/model/mlp.yaml"
    original = model.read_text()
    model.write_text(original.replace("weight_decay: 1.0e-3", "weight_decay: 0.5"))
    try:
        stale = nox(folder, "-s", "checklist")
    finally:
        model.write_text(original)
    assert stale.returncode == 1
    assert "[to do] Results match the code and data they claim to come from" in stale.stdout
    # The report too: its captions say how the hyperparameters were chosen, from conf/.
    assert "out of date: report, runs@small, runs@smoke; run `uvx nox -s record`" in stale.stdout


@pytest.mark.xdist_group("other-answers")
def test_the_paper_session_builds_with_latexmk_or_says_how_to_install_it(studies, tmp_path):
    folder, _ = studies("other-answers")
    # The session runs no Python of its own: a PATH with nothing but (a stand-in for) latexmk will do.
    bare, fake = tmp_path / "bare", tmp_path / "fake"
    bare.mkdir()
    fake.mkdir()
    missing = run([sys.executable, "-m", "nox", "--no-color", "-s", "paper"], folder, PATH=str(bare))
    assert missing.returncode != 0
    assert "latexmk is not installed" in missing.stdout + missing.stderr
    assert "apt-get install latexmk" in missing.stdout + missing.stderr
    (fake / "latexmk").write_text('#!/bin/sh\necho "$PWD $*" > "$0.called"\n')
    (fake / "latexmk").chmod(0o755)
    built = run([sys.executable, "-m", "nox", "--no-color", "-s", "paper"], folder, PATH=str(fake))
    assert built.returncode == 0, built.stdout + built.stderr
    called = (fake / "latexmk.called").read_text()
    assert called.startswith(f"{folder / 'paper'} -pdf") and called.rstrip().endswith("main.tex")
    main = (folder / "paper/main.tex").read_text()
    results = folder / "results" / "small"
    assert r"\newcommand{\results}{../results/small}" in main
    for name in ("numbers.tex", "table.tex", "differences.tex", "figure.pdf"):
        assert f"\\results/{name}" in main and (results / name).is_file()


NARROWER_TWO_CHANGES = (
    "# @package _global_\nvariant: ablation/narrower\nmodel:\n  hidden_units: [50]\n"
    "training:\n  batch_size: 64\n"
)


def test_ablations_that_break_the_rules_are_named(default_study):
    """The messages AUTHORING.md shows: a file that does not compose, and one that changes two things."""
    ablations = default_study / "conf/variant/ablation"
    (ablations / "wider.yaml").write_text(
        "# @package _global_\nvariant: ablation/wider\nmodel:\n  hiden_units: [200]\n"
    )
    (ablations / "narrower.yaml").write_text(NARROWER_TWO_CHANGES)
    try:
        variants = "tests/machinery/test_variants.py"
        result = nox(default_study, "-s", "tests", "--", variants, "-k", "wider or narrower")
    finally:
        (ablations / "wider.yaml").unlink()
        (ablations / "narrower.yaml").unlink()
    assert result.returncode != 0
    assert "conf/variant/ablation/wider.yaml does not compose" in result.stdout
    assert "hiden_units" in result.stdout
    message = (
        "conf/variant/ablation/narrower.yaml must change exactly one thing; it changes: "
        "model.hidden_units: [100] -> [50]; training.batch_size: 128 -> 64"
    )
    assert message in result.stdout
    assert message in (default_study / "AUTHORING.md").read_text()


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        (
            "conf/variant/ablation/narrower.yaml",
            NARROWER_TWO_CHANGES,
            "conf/variant/ablation/narrower.yaml must change exactly one thing; it changes: ",
        ),
        ("conf/variant/ablation/broken.yaml", "variant: ablation/broken\nmodel: [\n", "is not valid YAML"),
        ("conf/study.yaml", ("seeds: [0, 1]", "seeds: [0]"), "tier 'smoke' needs two seeds or more"),
        (
            "conf/study.yaml",
            ("tolerance:\n  accuracy:", "tolerance:\n  acuracy:"),
            "conf/study.yaml: a tolerance for 'acuracy', which is not declared under `metrics`",
        ),
    ],
    ids=["two-changes", "yaml-syntax", "one-seed", "tolerance-typo"],
)
def test_record_refuses_an_invalid_study_before_any_run(default_study, path, text, message):
    """A few lines naming the file and the rule, no traceback, and nothing run or written.

    `text` is the file's new content, or (old, new): a replacement in the file as generated.
    """
    target = default_study / path
    tracked = bool(git(default_study, "ls-files", path).strip())
    if isinstance(text, tuple):
        assert text[0] in target.read_text()
        text = target.read_text().replace(*text)
    target.write_text(text)
    try:
        result = nox(default_study, "-s", "record")
        changed = git(default_study, "status", "--porcelain", "--untracked-files=no")
    finally:
        if tracked:
            git(default_study, "checkout", "--quiet", "--", path)
        else:
            target.unlink()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output and "Traceback" not in output
    assert "Running stage" not in output, "stopped before DVC ran anything"
    assert changed.splitlines() == ([f" M {path}"] if path == "conf/study.yaml" else [])


def ownership_map() -> dict[str, list[str]]:
    """The table of docs/update.md: owner -> file patterns (`<package>` for the import name)."""
    lines = (REPO / "docs/update.md").read_text().splitlines()
    start = lines.index("| owner | files | on update |") + 2
    rows = {}
    for line in itertools.takewhile(lambda line: line.startswith("|"), lines[start:]):
        owner, files, _ = (cell.strip() for cell in line.strip("|").split(" | "))
        rows[owner] = re.findall(r"`([^`]+)`", files)
    return rows


def test_every_file_has_exactly_one_owner_in_the_update_docs(study):
    folder, answers = study
    package = answers.get("import_name", "digits_study")
    rows = ownership_map()
    for name in git(folder, "ls-files").splitlines():
        owners = [
            owner
            for owner, patterns in rows.items()
            if any(fnmatch.fnmatchcase(name, pattern.replace("<package>", package)) for pattern in patterns)
        ]
        assert len(owners) == 1, f"{name} is owned by {owners or 'no row'} in docs/update.md"
    skipped = CONFIG["_skip_if_exists"]
    assert rows["the researcher, never written"] == skipped


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="no latexmk (TeX Live) or pdftotext (poppler-utils) on this machine; .ci/run installs both",
)
@pytest.mark.xdist_group("other-answers")
def test_the_paper_builds_with_the_generated_tables_and_figure(studies):
    folder, _ = studies("other-answers")
    result = run([sys.executable, "-m", "nox", "--no-color", "-s", "paper"], folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (folder / "paper/build/main.pdf").read_bytes().startswith(b"%PDF")
    log = (folder / "paper/build/main.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log and "undefined" not in log.lower()
    # The PDF holds the recorded tables and both figures (their text is text in the PDF).
    text = subprocess.run(
        ["pdftotext", "-layout", "paper/build/main.pdf", "-"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summary = json.loads((folder / "results/small/metrics.json").read_text())
    accuracy = f"{summary['proposed']['accuracy']['mean']:.4f}"
    assert "Table 1" in text and "Table 2" in text and accuracy in text
    assert "Scores per variant" in text and "Learning curves per variant" in text
    # The prose's numbers are the record's, through the macros of results/small/numbers.tex.
    comparisons = json.loads((folder / "results/small/comparisons.json").read_text())
    paired = comparisons["baseline/logistic_regression"]["accuracy"]["paired"]
    prose = " ".join(text.split())
    assert f"reaches an accuracy of {accuracy} (95% CI" in prose
    assert f"proposed method's by {paired['difference']:+.4f} (95% CI {paired['ci_low']:+.4f} to" in prose
    assert git(folder, "status", "--porcelain") == "", "the build stays in the ignored paper/build/"
    checked = nox(folder, "-s", "checklist")
    assert "[done] Numbers in the prose come from the record" in checked.stdout, checked.stdout
    # A number typed into the prose instead, the paper's or the README's, is named with its file and line.
    main = folder / "paper/main.tex"
    original = main.read_text()
    typed = original.replace("The whole study took", "It reaches 0.98.\nThe whole study took")
    line = next(number for number, text in enumerate(typed.splitlines(), 1) if "0.98" in text)
    main.write_text(typed)
    readme = folder / "README.md"
    readme.write_text(readme.read_text() + "\nOn a second look it reaches 0.97.\n")
    readme_line = len(readme.read_text().splitlines())
    git(folder, "commit", "-qam", "numbers typed by hand")
    try:
        checked = nox(folder, "-s", "checklist")
        # The smoke tier reproduces, but no re-run checks a number typed by hand.
        reproduced = nox(folder, "-s", "reproduce", "--", "smoke")
    finally:
        git(folder, "reset", "--quiet", "--hard", "HEAD~1")
    assert checked.returncode == 1
    assert "[to do] Numbers in the prose come from the record" in checked.stdout
    assert f"2 typed by hand (paper/main.tex:{line}: 0.98)" in checked.stdout, checked.stdout
    assert reproduced.returncode == 1, reproduced.stdout + reproduced.stderr
    assert "checks pass for the smoke tier" in reproduced.stdout
    assert "NOT REPRODUCED: these numbers of the prose are typed by hand" in reproduced.stdout
    assert f"\n  paper/main.tex:{line}: 0.98\n  README.md:{readme_line}: 0.97\n" in reproduced.stdout


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="no latexmk (TeX Live) or pdftotext (poppler-utils) on this machine; .ci/run installs both",
)
def test_a_second_tier_beyond_smoke_says_whether_the_differences_hold_at_scale_in_the_readme_and_paper(
    studies, tmp_path
):
    """`medium` added to the tiers and recorded: results/scaling/ holds each variant's difference
    from the method at small and at medium, which the README's results section and the paper
    show; with the tier gone again, so is the scaling."""
    study = working_copy(studies("other-answers")[0], tmp_path / "study")
    config = study / "conf/study.yaml"
    original = config.read_text()
    small = "  small:\n    seeds: [0, 1, 2]\n"
    assert small in original
    config.write_text(original.replace(small, small + "  medium:\n    seeds: [0, 1, 2]\n", 1))
    recorded = nox(study, "-s", "record")
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    table = (study / "results/scaling/table.md").read_text()
    # The tiers in conf/study.yaml's order, smoke aside; a row per baseline and ablation.
    assert table.startswith("| vs. proposed | small | medium |\n"), table
    comparisons = json.loads((study / "results/medium/comparisons.json").read_text())
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines() if line.startswith("| ")}
    for variant, by_metric in comparisons.items():
        paired = by_metric["accuracy"]["paired"]
        interval = f"[{paired['ci_low']:+.4f}, {paired['ci_high']:+.4f}]"
        cell = f"{paired['difference']:+.4f} {interval}, {paired['verdict']}"
        assert rows[variant].endswith(f" | {cell} |"), rows[variant]
    readme = (study / "README.md").read_text()
    assert table.rstrip("\n") in readme and "![Difference from proposed in accuracy per tier" in readme
    checked = uv_run(study, "python", "-m", "study_machinery", "readme", "--check")
    assert checked.returncode == 0, checked.stderr
    built = nox(study, "-s", "paper")
    assert built.returncode == 0, built.stdout + built.stderr
    text = subprocess.run(
        ["pdftotext", "-layout", "paper/build/main.pdf", "-"], cwd=study, capture_output=True, text=True
    ).stdout
    assert "Does it scale?" in " ".join(text.split()) and "Table 3" in text
    config.write_text(original)
    again = nox(study, "-s", "record")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (study / "results/scaling").exists()
    assert "Does it scale?" not in (study / "README.md").read_text()


def working_copy(study, dst):
    """A copy of a study to edit freely, with an environment of its own from its uv.lock."""
    shutil.copytree(study, dst, ignore=shutil.ignore_patterns(".venv", ".nox"), symlinks=True)
    result = run(["uv", "sync", "--frozen", "--no-default-groups", "--group", "pipeline"], dst)
    assert result.returncode == 0, result.stderr
    return dst


def uv_run(study, *command: str):
    return run(["uv", "run", "--frozen", "--no-sync", *command], study, PYTHONHASHSEED="0")


def run_records(study) -> dict[str, bytes]:
    """Each run's run.json, by tier/variant/seed: a run that executes writes a new one."""
    return {
        path.parent.relative_to(study / "runs").as_posix(): path.read_bytes()
        for path in (study / "runs").rglob("run.json")
    }


def test_only_the_runs_an_edit_changes_execute(default_study, tmp_path):
    """Each kind of edit executes exactly its runs, counted from the run folders, never timed."""
    study = working_copy(default_study, tmp_path / "study")
    conf = study / "conf"
    seeds = {"smoke": [0, 1], "small": [0, 1, 2, 3, 4]}

    def record(*expected_summaries: str) -> set[str]:
        before = run_records(study)
        assert "changed" in uv_run(study, "dvc", "status").stdout, "DVC must see every edit below"
        result = uv_run(study, "dvc", "repro", "runs@smoke", "runs@small")
        assert result.returncode == 0, result.stdout + result.stderr
        for line in expected_summaries:
            assert line in result.stderr, result.stderr
        after = run_records(study)
        return {name for name, record in after.items() if before.get(name) != record}

    def runs_of(variant: str, tiers=("smoke", "small")) -> set[str]:
        return {f"{tier}/{variant}/seed_{seed}" for tier in tiers for seed in seeds[tier]}

    # One ablation's value: its runs, at every tier.
    ablation = conf / "variant/ablation/no_weight_decay.yaml"
    ablation.write_text(ablation.read_text().replace("weight_decay: 0.0\n", "weight_decay: 0.0001\n"))
    summary = "runs@small: 5 of 30 runs to execute (5 stale: config)"
    progress = "runs@small: 5/5 runs ended"
    assert record("runs@smoke: 2 of 12 runs to execute (2 stale: config)", summary, progress) == runs_of(
        "ablation/no_weight_decay"
    )

    # A seed added to a tier: that seed's runs.
    study_file = conf / "study.yaml"
    study_file.write_text(
        study_file.read_text().replace("seeds: [0, 1, 2, 3, 4]", "seeds: [0, 1, 2, 3, 4, 5]")
    )
    seeds["small"].append(5)
    variants = json.loads((study / "results/small/metrics.json").read_text())
    assert record("runs@small: 6 of 36 runs to execute (6 missing)") == {
        f"small/{v}/seed_5" for v in variants
    }

    shutil.copy(conf / "variant/baseline/knn.yaml", conf / "variant/baseline/knn_again.yaml")
    knn_again = conf / "variant/baseline/knn_again.yaml"
    knn_again.write_text(
        knn_again.read_text().replace("variant: baseline/knn", "variant: baseline/knn_again")
    )
    # A baseline is searched as the method is (smoke declares a search): it brings its space.
    space = conf / "search/baseline/knn_again.yaml"
    shutil.copy(conf / "search/baseline/knn.yaml", space)
    # A new variant: its runs, and nothing else.
    assert record() == runs_of("baseline/knn_again")

    # A deleted variant: nothing runs, and it leaves the result (its runs stay, unused).
    knn_again.unlink()
    space.unlink()
    assert record() == set()
    assert uv_run(study, "dvc", "repro").returncode == 0
    assert "baseline/knn_again" not in json.loads((study / "results/small/metrics.json").read_text())

    # A tolerance: no run.
    study_file.write_text(study_file.read_text().replace("abs_tol: 0.005", "abs_tol: 0.006", 1))
    assert record() == set()

    # A package the research code can import at another version, or the data (as `dvc add` of
    # new raw data records it), changed: every run is stale. A tool pinned otherwise in a
    # dependency group, uv.lock locked again: no run is.
    def status_after(edit) -> str:
        edit()
        listed = uv_run(study, "python", "-m", "study_machinery", "status", "--summary")
        run(["git", "checkout", "--quiet", "--", "uv.lock", "data/raw.dvc", "pyproject.toml"], study)
        return listed.stdout

    lock, pyproject = study / "uv.lock", study / "pyproject.toml"
    upgraded = re.sub(r'(name = "scikit-learn"\nversion = "[^"]+)"', r'\1.post1"', lock.read_text())
    assert upgraded != lock.read_text()
    assert "runs@small: 36 of 36 runs to execute (36 stale: environment)" in status_after(
        lambda: lock.write_text(upgraded)
    )

    def pin_a_tool() -> None:
        pyproject.write_text(pyproject.read_text().replace('test = ["pytest>=8"]', 'test = ["pytest>=8.1"]'))
        before = lock.read_text()
        assert run(["uv", "lock", "--offline", "--quiet"], study).returncode == 0
        assert lock.read_text() != before, "uv.lock records the group's new specifier"

    assert "all tiers: 0 of 48 runs to execute" in status_after(pin_a_tool)
    raw = study / "data/raw.dvc"
    assert "runs@small: 36 of 36 runs to execute (36 stale: data)" in status_after(
        lambda: raw.write_text(raw.read_text().replace("md5: ", "md5: 0", 1))
    )

    # Formatting and comments change nothing a run does: no run is stale (run identity hashes the
    # code's syntax tree). ruff's formatter at another line length rewraps most of the file.
    models = study / "src/digits_study/models.py"
    models.write_text(models.read_text() + "\n# A comment changes nothing a run computes.\n")
    # The study's own ruff (its lint group), not whichever one is on PATH.
    lint = ["--no-default-groups", "--group", "pipeline", "--group", "lint"]
    formatted = run(
        ["uv", "run", "--frozen", *lint, "ruff", "format", "--line-length", "60", str(models)], study
    )
    assert formatted.returncode == 0 and "1 file reformatted" in formatted.stdout, formatted.stdout
    status = uv_run(study, "python", "-m", "study_machinery", "status", "--summary")
    assert "all tiers: 0 of 48 runs to execute" in status.stdout, status.stdout

    # The research code changed what it does: every run is stale. Executing the smoke tier shows it.
    models.write_text(models.read_text() + "\nVALUE_ADDED_BY_TEST = 1\n")
    status = uv_run(study, "python", "-m", "study_machinery", "status", "--summary")
    assert "runs@small: 36 of 36 runs to execute (36 stale: code)" in status.stdout, status.stdout
    before = run_records(study)
    assert uv_run(study, "dvc", "repro", "runs@smoke").returncode == 0
    after = run_records(study)
    assert {name for name in after if after[name] != before[name]} == {
        name for name in after if name.startswith("smoke/") and "knn_again" not in name
    }


def finished_runs(runs: Path) -> set[Path]:
    """The run folders of a tier that hold a metrics.json (an attempt, or the folder it replaces,
    is not one), read while the tier swaps attempts in: os.walk passes over a folder renamed
    away mid-walk, where Path.rglob raises."""
    return {
        Path(parent)
        for parent, _, files in os.walk(runs)
        if "metrics.json" in files and not parent.endswith((".attempt", ".replaced"))
    }


def test_a_killed_tier_resumes_and_records_the_same_result_bit_for_bit(default_study, tmp_path):
    """SIGKILL to a whole tier mid-way (parent and workers); the next record executes only the rest."""
    study = working_copy(default_study, tmp_path / "study")
    shutil.rmtree(study / "runs/small")
    # DVC itself is the child (not `uv run`), so that it is reaped once killed: a killed DVC
    # left unreaped would hold its lock on the study for as long as it stays a zombie.
    venv = study / ".venv"
    command = [str(venv / "bin/dvc"), "repro", "runs@small"]
    env = without_outer({**os.environ, "PYTHONHASHSEED": "0"})
    env |= {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}
    tier = subprocess.Popen(
        command,
        cwd=study,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(finished_runs(study / "runs/small")) < 8 and time.monotonic() < deadline:
        assert tier.poll() is None, "the tier finished before it could be killed"
        time.sleep(0.02)
    os.killpg(tier.pid, signal.SIGKILL)
    tier.wait()
    # A run killed after it finished but before its attempt replaced its folder counts as one to
    # execute (it is then put in place without running again): only run folders are finished.
    finished = finished_runs(study / "runs/small")
    assert 8 <= len(finished) < 30
    # The run in flight left nothing that could pass for a result.
    aggregated = uv_run(study, "python", "-m", "study_machinery", "aggregate", "small")
    assert aggregated.returncode == 1 and "interrupted, failed or never run" in aggregated.stderr

    result = uv_run(study, "dvc", "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"runs@small: {30 - len(finished)} of 30 runs to execute ({30 - len(finished)} missing)"
        in result.stderr
    )
    for path in (default_study / "runs/small").rglob("metrics.json"):
        assert (study / path.relative_to(default_study)).read_bytes() == path.read_bytes(), path
    assert (study / "results/small/metrics.json").read_bytes() == (
        default_study / "results/small/metrics.json"
    ).read_bytes()


def unreserved_modules(study, own: str) -> list[str]:
    """The top-level modules of the packages a study locks (every group) that a package may take."""
    listing = "import json, importlib.metadata as m; print(json.dumps(sorted(m.packages_distributions())))"
    found = run(["uv", "run", "--frozen", "--all-groups", "python", "-c", listing], study)
    assert found.returncode == 0, found.stderr
    modules = {name for name in json.loads(found.stdout) if re.fullmatch(r"[a-z_][a-z0-9_]*", name)}
    return sorted(modules - set(CONFIG["reserved_import_names"]["default"]) - {own})


def test_no_module_the_study_locks_can_be_its_import_name(default_study):
    """tasks/reserved_import_names.yml covers every top-level module of every locked package."""
    missing = unreserved_modules(default_study, "digits_study")
    assert not missing, f"run `uvx nox -s reserved_names -- SKLEARN PYTORCH`: {missing} are missing"
