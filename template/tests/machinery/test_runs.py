"""Runs from the command line: what they write, how they fail, and what an interruption leaves."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from study_machinery.aggregate import IncompleteRunsError, collect


def machinery(*args: str, hash_seed: bool = True, **popen) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    env |= {"PYTHONHASHSEED": "0"} if hash_seed else {}
    command = [sys.executable, "-m", "study_machinery", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, **popen)


def test_a_run_writes_metrics_and_provenance_and_warns_without_pythonhashseed(tmp_path, smoke_overrides):
    result = machinery("run", f"hydra.run.dir={tmp_path}", *smoke_overrides, "seed=2", hash_seed=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: PYTHONHASHSEED is not set") == 1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics and all(isinstance(value, float) for value in metrics.values())
    provenance = json.loads((tmp_path / "run.json").read_text())
    assert (provenance["variant"], provenance["scale"], provenance["seed"]) == ("proposed", "smoke", 2)
    assert len(provenance["config_sha256"]) == 64
    assert provenance["config"]["seed"] == 2
    assert provenance["seconds"] > 0 and provenance["peak_memory_mb"] > 0
    environment = provenance["environment"]
    for key in ("git_commit", "git_dirty", "data_md5", "uv_lock_sha256", "packages", "cpu", "gpus"):
        assert key in environment
    assert "hydra-core" in environment["packages"]


def test_a_run_by_hand_goes_to_outputs(smoke_overrides):
    result = machinery(
        "run", *smoke_overrides, "seed=7", "--cfg", "all", "--package", "hydra.run", "--resolve"
    )
    assert result.returncode == 0, result.stderr
    assert "dir: outputs/smoke/proposed/seed_7" in result.stdout


def test_missing_data_names_the_command_that_restores_it(tmp_path):
    result = machinery("run", f"hydra.run.dir={tmp_path}", "scale=smoke", "data.path=data/nowhere.npz")
    assert result.returncode == 1
    assert "error: " in result.stderr and "dvc repro prepare" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_a_killed_tier_leaves_no_partial_result_and_the_next_completes(tmp_path, smoke_overrides):
    """SIGKILL after the first run: the unfinished run counts as missing, and a re-run fills it.

    Ten epochs of the small scale make a run last about a second: long enough to be killed in flight.
    """
    sweep = ["hydra/launcher=basic", "variant=proposed", "seed=0,1", "training.epochs=10"]
    arguments = ["run", "--multirun", f"hydra.sweep.dir={tmp_path}", *smoke_overrides[1:], *sweep]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "study_machinery", *arguments]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "proposed" / "seed_0" / "metrics.json"
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with pytest.raises(IncompleteRunsError, match="seed_1"):
        collect(tmp_path, ["proposed"], [0, 1])

    assert machinery(*arguments).returncode == 0
    assert len(collect(tmp_path, ["proposed"], [0, 1])) == 2
