"""Runs from the command line: what they write, how they fail, and what an interruption leaves."""

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from study_machinery import contract, executors
from study_machinery.core import paths
from study_machinery.core.environment import RUN_ENVIRONMENT
from study_machinery.core.errors import StudyError
from study_machinery.core.study import load_study, variants
from study_machinery.executors import cores
from study_machinery.results.aggregate import IncompleteRunsError, collect
from study_machinery.runs import attempt, identity, ranks
from study_machinery.runs.attempt import execute
from study_machinery.runs.folder import prepare_folder, recover
from study_machinery.runs.plan import plan, state, summary, unused
from study_machinery.tiers.batch import Batch, execute_batch

# What a research code's run says when its input is not on disk, as the contract asks.
MISSING = "data/prepared/nowhere is missing. Restore it with `uv run dvc repro prepare`."

# The command line with a stand-in for the research code's run, put in at the contract's one door:
# argv[1] says how it differs from the real run. What the machinery does about a run that fails,
# or is killed in flight, is then tested whatever the research code is and however fast it runs.
STAND_IN = f"""
import sys, time
from study_machinery import cli, contract

real, how = contract.run, sys.argv.pop(1)


def run(config, folder, on_epoch):
    if how == "missing":
        raise FileNotFoundError({MISSING!r})
    metrics = real(config, folder, on_epoch)
    if how == "stalls" and config.seed == 1:
        time.sleep(600)  # its work done, not yet recorded: where a kill costs the most
    return metrics


contract.run = run
sys.exit(cli.main(sys.argv[1:]))
"""


def machinery(*args: str, hash_seed: bool = True, stand_in: str = "", **popen) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    env |= {"PYTHONHASHSEED": "0"} if hash_seed else {}
    start = ["-c", STAND_IN, stand_in] if stand_in else ["-m", "study_machinery"]
    command = [sys.executable, *start, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, **popen)


HASH_IN_A_NEW_PROCESS = """
from study_machinery.core.environment import rerun_with_it
rerun_with_it()
import os
print(os.environ["PYTHONHASHSEED"], os.environ["CUBLAS_WORKSPACE_CONFIG"], hash("a str"))
"""


def test_the_machinery_starts_again_with_the_run_environment_when_it_lacks_it():
    """str hashes differ between processes unless PYTHONHASHSEED is set before Python starts."""
    env = {key: value for key, value in os.environ.items() if key not in RUN_ENVIRONMENT}
    said = [
        subprocess.run(
            [sys.executable, "-c", HASH_IN_A_NEW_PROCESS], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert said[0] == said[1] and said[0][:2] == ["0", RUN_ENVIRONMENT["CUBLAS_WORKSPACE_CONFIG"]]


def test_a_run_writes_metrics_and_provenance_even_without_pythonhashseed(
    tmp_path, compose_config, smoke_overrides
):
    result = machinery("run", f"hydra.run.dir={tmp_path}", *smoke_overrides, "seed=2", hash_seed=False)
    assert result.returncode == 0, result.stderr
    assert "PYTHONHASHSEED" not in result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics and all(isinstance(value, float) for value in metrics.values())
    provenance = json.loads((tmp_path / "run.json").read_text())
    scale = compose_config(*smoke_overrides).scale
    assert (provenance["variant"], provenance["scale"], provenance["seed"]) == ("proposed", scale, 2)
    assert len(provenance["config_sha256"]) == 64
    assert provenance["config"]["seed"] == 2
    assert provenance["seconds"] > 0 and provenance["peak_memory_mb"] > 0
    environment = provenance["environment"]
    for key in ("git_commit", "git_dirty", "data_md5", "uv_lock_sha256", "packages", "cpu", "gpus"):
        assert key in environment
    assert "hydra-core" in environment["packages"]


def test_a_run_by_hand_goes_to_outputs(compose_config, smoke_overrides):
    result = machinery(
        "run", *smoke_overrides, "seed=7", "--cfg", "all", "--package", "hydra.run", "--resolve"
    )
    assert result.returncode == 0, result.stderr
    assert f"dir: outputs/{compose_config(*smoke_overrides).scale}/proposed/seed_7" in result.stdout


def test_a_missing_input_is_one_error_line_as_the_research_code_says_it(tmp_path, smoke_overrides):
    result = machinery("run", f"hydra.run.dir={tmp_path}", *smoke_overrides, stand_in="missing")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {MISSING}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_a_killed_tier_leaves_no_partial_result_and_the_next_completes(tmp_path, smoke_overrides):
    """SIGKILL while the second run is in flight: it counts as missing, and a re-run fills it.

    The stand-in's second run stalls once the research code returns, before the machinery
    records it, so the kill lands there however fast the study's runs are.
    """
    sweep = ["hydra/launcher=basic", "variant=proposed", "seed=0,1"]
    arguments = ["run", "--multirun", f"hydra.sweep.dir={tmp_path}", *smoke_overrides, *sweep]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-c", STAND_IN, "stalls", *arguments]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = tmp_path / "proposed" / "seed_1" / paths.RUN_STARTED
    deadline = time.monotonic() + 120
    while not second.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the stand-in's second run should still be in flight"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with pytest.raises(IncompleteRunsError, match="seed_1"):
        collect(tmp_path, ["proposed"], [0, 1])

    assert machinery(*arguments).returncode == 0
    assert len(collect(tmp_path, ["proposed"], [0, 1])) == 2


def test_a_run_is_missing_then_done_and_stale_with_what_changed(planned_run):
    assert state(planned_run) == ("missing", [])
    assert execute(planned_run).error is None
    assert state(planned_run) == ("done", [])
    record = json.loads((planned_run.folder / "run.json").read_text())
    assert record["identity"]["key"] == planned_run.identity.key

    for part in identity.PARTS:
        changed = dataclasses.replace(planned_run.identity, **{part: "something else"})
        assert state(dataclasses.replace(planned_run, identity=changed)) == ("stale", [part])

    metrics = planned_run.folder / "metrics.json"
    edited = {name: value + 1 for name, value in json.loads(metrics.read_text()).items()}
    metrics.write_text(json.dumps(edited))
    assert state(planned_run) == ("stale", ["metrics.json edited"])
    (planned_run.folder / "metrics.json").unlink()
    assert state(planned_run) == ("missing", [])


def test_a_failed_run_is_named_with_its_log_and_leaves_no_metrics(planned_run, monkeypatch):
    def missing(config, folder, on_epoch):
        raise FileNotFoundError(MISSING)

    monkeypatch.setattr(contract, "run", missing)
    outcome = execute(planned_run)
    assert outcome.name == "proposed seed 0"
    assert MISSING in outcome.error
    log = paths.attempt_dir(planned_run.folder) / "run.log"
    assert outcome.log == paths.shown(log) and "Traceback" in log.read_text()
    assert not (planned_run.folder / "metrics.json").exists()


def test_what_the_research_code_warns_of_is_in_the_tiers_output(planned_run, monkeypatch, capsys):
    """A checkpoint it could not use, say: said in the run's log, and by the tier, on any executor."""
    real = contract.run

    def warns(config, folder, on_epoch):
        logging.getLogger(f"{contract.PACKAGE}.train").warning("checkpoint.pt cannot be used (a list)")
        logging.getLogger("some.library").warning("not the research code's: left to its log")
        return real(config, folder, on_epoch)

    monkeypatch.setattr(contract, "run", warns)
    basic = executors.load("basic")
    execute_batch(Batch("smoke", "runs@smoke", "tier smoke", "runs of tier smoke"), [planned_run], basic)
    said = capsys.readouterr().err
    assert "runs@smoke: 1 runs executed" in said
    assert "runs@smoke: your research code warned in 1 runs" in said
    assert "  proposed seed 0: checkpoint.pt cannot be used (a list)" in said
    assert (
        "not the research code's" not in said
        and "not the research code's" in (planned_run.folder / "run.log").read_text()
    )


def recorded(folder) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()
    }


def test_a_recorded_run_stays_whole_until_its_replacement_has_finished(planned_run, monkeypatch):
    """A forced re-run (fresh) that fails, or is killed, leaves the recorded files as they were."""
    assert execute(planned_run).error is None
    before = recorded(planned_run.folder)
    real = contract.run

    def fails(config, folder, on_epoch):
        (folder / "checkpoint").write_text("half of the work")
        raise RuntimeError("the node went away")

    monkeypatch.setattr(contract, "run", fails)
    planned_run.fresh = True
    assert "the node went away" in execute(planned_run).error
    assert recorded(planned_run.folder) == before
    assert state(planned_run) == ("done", [])
    attempt = paths.attempt_dir(planned_run.folder)
    assert (attempt / "checkpoint").is_file(), "the attempt is kept beside the run, for a resume"
    assert unused(planned_run.folder.parents[1], [planned_run]) == [], "a planned run's attempt is its own"

    monkeypatch.setattr(contract, "run", real)
    assert execute(planned_run).error is None
    assert not attempt.exists() and not paths.replaced_dir(planned_run.folder).exists()
    assert json.loads((planned_run.folder / "metrics.json").read_bytes()) == json.loads(
        before["metrics.json"]
    )
    assert not (planned_run.folder / "checkpoint").exists(), "fresh: the attempt started empty"


@pytest.mark.parametrize("finished", [True, False])
def test_a_swap_cut_between_its_renames_loses_nothing(planned_run, finished):
    """Killed after the run's folder was moved aside, before the attempt took its place."""
    assert execute(planned_run).error is None
    before = recorded(planned_run.folder)
    attempt, replaced = paths.attempt_dir(planned_run.folder), paths.replaced_dir(planned_run.folder)
    shutil.copytree(planned_run.folder, attempt)
    (attempt / "new.txt").write_text("the attempt's")
    if not finished:
        (attempt / "metrics.json").unlink()
    planned_run.folder.rename(replaced)
    recover(planned_run.folder)
    assert not replaced.exists()
    assert (planned_run.folder / "new.txt").is_file() == finished
    if not finished:
        assert recorded(planned_run.folder) == before and attempt.is_dir()


@pytest.mark.parametrize("cut", ["before the swap", "between the renames"])
def test_a_run_that_finished_but_was_not_swapped_in_is_not_run_again(planned_run, monkeypatch, cut):
    """Killed after its metrics.json, before (or while) its attempt replaced the run's folder."""
    assert execute(planned_run).error is None
    before = recorded(planned_run.folder)
    attempt = paths.attempt_dir(planned_run.folder)
    if cut == "before the swap":
        planned_run.folder.rename(attempt)
    else:
        shutil.copytree(planned_run.folder, attempt)
        planned_run.folder.rename(paths.replaced_dir(planned_run.folder))

    def must_not_run(config, folder, on_epoch):
        raise AssertionError("ran again")

    monkeypatch.setattr(contract, "run", must_not_run)
    assert execute(planned_run).error is None
    assert recorded(planned_run.folder) == before
    assert not attempt.exists() and not paths.replaced_dir(planned_run.folder).exists()


def test_the_warnings_of_a_run_are_its_latest_attempts(planned_run, monkeypatch):
    """A job that never started leaves an attempt without a log: the recorded run's warnings are not its."""
    real = contract.run

    def warns(config, folder, on_epoch):
        logging.getLogger(f"{contract.PACKAGE}.train").warning("said by the recorded run")
        return real(config, folder, on_epoch)

    monkeypatch.setattr(contract, "run", warns)
    assert execute(planned_run).error is None
    assert attempt.research_warnings([planned_run]) == {planned_run.name: ["said by the recorded run"]}
    paths.attempt_dir(planned_run.folder).mkdir()
    assert attempt.research_warnings([planned_run]) == {}


def test_the_summary_says_how_many_runs_execute_and_why():
    states = [("done", []), ("stale", ["config"]), ("stale", ["code", "config"]), ("missing", [])]
    assert summary("smoke", states) == "runs@smoke: 3 of 4 runs to execute (2 stale: code, config; 1 missing)"
    assert summary("smoke", [("done", [])]) == "runs@smoke: 0 of 1 runs to execute"


def test_a_tier_plans_every_variant_and_seed_and_keeps_runs_it_no_longer_has(tmp_path):
    contract.register_configs()
    planned = plan("smoke", tmp_path)
    seeds = load_study().tiers["smoke"].seeds
    assert [(run.variant, run.seed) for run in planned] == [(v, s) for v in variants() for s in seeds]
    assert len({run.identity.key for run in planned}) == len(planned)
    (tmp_path / "baseline/gone/seed_0").mkdir(parents=True)
    assert unused(tmp_path, planned) == ["baseline/gone/seed_0"]


def test_a_run_folder_renamed_away_while_the_tier_is_read_is_passed_over(tmp_path, monkeypatch):
    """A SLURM job swaps its finished attempt in while `status` reads the tier's folders: the
    folder it was about to list is gone by then."""
    contract.register_configs()
    planned = plan("smoke", tmp_path)
    (tmp_path / "baseline/gone/seed_0").mkdir(parents=True)
    renamed = tmp_path / "proposed/seed_0.attempt"
    (renamed / "checkpoints").mkdir(parents=True)
    listed = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(renamed):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return listed(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert unused(tmp_path, planned) == ["baseline/gone/seed_0"]


def test_the_code_part_of_the_identity_is_every_file_but_bytecode(tmp_path):
    (tmp_path / "models.py").write_text("x = 1\n")
    before = identity.code_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "models.cpython-311.pyc").write_bytes(b"compiled")
    assert identity.code_hash(tmp_path) == before
    (tmp_path / "layers.py").write_text("")
    assert identity.code_hash(tmp_path) != before


def test_an_ablation_that_changes_two_things_is_refused_before_any_run(tmp_path, compose_config):
    shutil.copytree(paths.CONF_DIR, tmp_path / "conf", ignore=shutil.ignore_patterns(paths.TUNED))
    # Two keys every study's config has, whatever its research: the contract's.
    proposed = compose_config()
    (tmp_path / "conf/variant/ablation/two_changes.yaml").write_text(
        "# @package _global_\nvariant: ablation/two_changes\n"
        f"seed: {proposed.seed + 1}\nthreads: {proposed.threads + 1}\n"
    )
    with pytest.raises(StudyError) as error:
        plan("smoke", tmp_path / "runs", tmp_path / "conf")
    assert "two_changes.yaml must change exactly one thing; it changes: seed: " in str(error.value)
    assert "Nothing has run." in str(error.value)
    assert not (tmp_path / "runs").exists()


def test_a_variant_that_does_not_compose_is_named_in_a_few_lines(tmp_path):
    shutil.copytree(paths.CONF_DIR, tmp_path / "conf", ignore=shutil.ignore_patterns(paths.TUNED))
    (tmp_path / "conf/variant/ablation/broken.yaml").write_text("variant: ablation/broken\nseed: [\n")
    with pytest.raises(StudyError) as error:
        plan("smoke", tmp_path / "runs", tmp_path / "conf")
    assert "conf/variant/ablation/broken.yaml does not compose" in str(error.value)
    assert len(str(error.value).splitlines()) <= 7


def test_an_interrupted_run_keeps_its_folder_and_a_changed_or_finished_one_starts_empty(planned_run):
    folder, key = planned_run.folder, planned_run.identity
    prepare_folder(folder, key)
    (folder / "checkpoint.pt").write_text("what the run saved before it was killed")
    prepare_folder(folder, key)
    assert (folder / "checkpoint.pt").is_file(), "the same identity, unfinished: resumed"
    prepare_folder(folder, dataclasses.replace(key, code="changed"))
    assert [path.name for path in folder.iterdir()] == [paths.RUN_STARTED]
    (folder / "checkpoint.pt").write_text("the last checkpoint")
    (folder / "metrics.json").write_text("{}")
    (folder / "run.log").write_text("Hydra's log of a run by hand")
    prepare_folder(folder, dataclasses.replace(key, code="changed"), keep=frozenset({"run.log"}))
    assert sorted(path.name for path in folder.iterdir()) == ["run.log", paths.RUN_STARTED], (
        "finished: afresh"
    )


def test_a_tier_shares_out_the_gpus_cuda_lets_it_see(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert cores._gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cores._gpus() == []


@pytest.mark.parametrize("count", [0, -1, "2", True, 1.5])
def test_a_run_on_a_number_of_processes_that_is_not_one_or_more_is_refused_in_a_line(count):
    with pytest.raises(StudyError, match=r"^distributed.processes=.*: a run trains on 1 process or more"):
        ranks.processes({"distributed": {"processes": count}})
    # A config without the key is one process (a scikit-learn study's, or your own).
    assert ranks.processes({}) == 1 and ranks.processes({"distributed": {"processes": 3}}) == 3
