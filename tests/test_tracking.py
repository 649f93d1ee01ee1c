"""A study that logs to DVCLive, MLflow and W&B (offline), read back through each tracker's own API.

One study, generated with all three trackers: its copy records the smoke tier one run after
another in one process, and the small tier in two worker processes at once (the `cores`
executor), so the trackers are checked under parallel logging with the real libraries. Each
tracker's runs are then compared, count and value, with the runs' own records (run.json,
epochs.json, metrics.json), which the recorded result is aggregated from.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import copy_study, git, run
from environment import without_outer
from slurm_cluster import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tracking")]

TRACKERS = ["dvclive", "mlflow", "wandb"]
READER = Path(__file__).with_name("read_trackers.py")
SCORES = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
# The MLP and its ablations train in epochs; k-NN and logistic regression do not.
IN_EPOCHS = {
    "proposed",
    "ablation/no_augmentation",
    "ablation/no_standardization",
    "ablation/no_weight_decay",
}


@pytest.fixture(scope="module")
def study(template, tmp_path_factory):
    return copy_study(template, tmp_path_factory.mktemp("tracking") / "study", trackers=TRACKERS)


def recorded(study: Path) -> dict[tuple[str, str, int], dict]:
    """Every run's own records, by (tier, variant, seed)."""
    runs = {}
    for path in (study / "runs").rglob("run.json"):
        record = json.loads(path.read_text())
        epochs = path.with_name("epochs.json")
        runs[(record["scale"], record["variant"], record["seed"])] = {
            "config": record["config"],
            "identity": record["identity"]["key"],
            "provenance": path.relative_to(study).as_posix(),
            "metrics": json.loads(path.with_name("metrics.json").read_text()),
            "epochs": json.loads(epochs.read_text()) if epochs.is_file() else [],
        }
    return runs


def read(study: Path, tracker: str):
    result = run([str(study / ".venv/bin/python"), str(READER), tracker], study)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def flat(config: dict, prefix: str = "") -> dict[str, str]:
    items = {}
    for key, value in config.items():
        items |= flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": str(value)}
    return items


def test_the_copy_records_the_result_and_logs_every_run_to_every_tracker_without_a_warning(study):
    assert git(study, "status", "--porcelain") == ""
    runs = recorded(study)
    assert len(runs) == 12 + 30, "smoke: 6 variants x 2 seeds; small: 6 x 5"
    logs = "".join(path.read_text() for path in (study / "runs").rglob("run.log"))
    assert "tracker" not in logs, "no tracker warned"
    summary = json.loads((study / "results/small/metrics.json").read_text())
    assert {
        variant: len([k for k in runs if k[:2] == ("small", variant)]) for variant in summary
    } == dict.fromkeys(summary, 5)


def test_mlflow_has_one_run_per_variant_and_seed_with_its_params_tags_and_history(study):
    experiments = read(study, "mlflow")
    runs = recorded(study)
    assert {name: len(found) for name, found in experiments.items() if found} == {
        "digits-study/smoke": 12,
        "digits-study/small": 30,
    }
    for name, found in experiments.items():
        for logged in found:
            tags = logged["tags"]
            key = (tags["tier"], tags["variant"], int(tags["seed"]))
            own = runs.pop(key)
            assert name == f"digits-study/{tags['tier']}" and logged["status"] == "FINISHED"
            assert logged["name"] == f"{key[1]} seed {key[2]}"
            assert tags["identity"] == own["identity"] and tags["provenance"] == own["provenance"]
            assert logged["params"] == flat(own["config"])
            for metric, value in own["metrics"].items():
                assert logged["metrics"][metric] == value
            assert set(logged["history"]) == (set(SCORES) if key[1] in IN_EPOCHS else set())
            for score, points in logged["history"].items():
                assert points == [[epoch["epoch"], epoch[score]] for epoch in own["epochs"]]
    assert not runs, f"runs MLflow does not have: {sorted(runs)}"


def test_wandb_has_an_offline_run_per_variant_and_seed_with_its_config_and_history(study):
    logged_runs = read(study, "wandb")
    runs = recorded(study)
    assert len(logged_runs) == len(runs) == 42
    for logged in logged_runs:
        tags = logged["config"]["run"]
        key = (tags["tier"], tags["variant"], int(tags["seed"]))
        own = runs.pop(key)
        assert (logged["project"], logged["group"], logged["job_type"]) == ("digits-study", key[0], key[1])
        assert logged["name"] == f"{key[1]} seed {key[2]}" and logged["exit_code"] == 0
        assert logged["tags"] == [f"variant={key[1]}", f"seed={key[2]}", f"tier={key[0]}"]
        assert logged["notes"] == f"provenance: {own['provenance']}" and tags["identity"] == own["identity"]
        assert {k: v for k, v in logged["config"].items() if k != "run"} == own["config"]
        history = [{k: v for k, v in row.items() if not k.startswith("_")} for row in logged["history"]]
        assert history == own["epochs"]
        assert {k: logged["summary"][k] for k in own["metrics"]} == own["metrics"]
    assert not runs
    # W&B's own command sees every run as one to upload (nothing is uploaded: --dry-run).
    folders = sorted(
        path.relative_to(study).as_posix() for path in (study / "tracking/wandb").glob("offline-run-*")
    )
    synced = run(["uv", "run", "--frozen", "wandb", "sync", "--dry-run", *folders], study)
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "Would sync 42 run(s)" in synced.stdout + synced.stderr


def test_dvclive_files_are_read_by_dvc_exp_show_and_dvc_plots(study):
    runs = recorded(study)
    shown = run(["uv", "run", "--frozen", "dvc", "exp", "show", "--no-pager", "--json"], study)
    assert shown.returncode == 0, shown.stderr[-2000:]
    metrics = json.loads(shown.stdout)[0]["data"]["metrics"]
    logged = {
        path: entry["data"] for path, entry in metrics.items() if path.endswith("/dvclive/metrics.json")
    }
    assert len(logged) == 42
    for (tier, variant, seed), own in runs.items():
        entry = logged[f"runs/{tier}/{variant}/seed_{seed}/dvclive/metrics.json"]
        assert {metric: entry[metric] for metric in own["metrics"]} == own["metrics"]
        if own["epochs"]:
            assert entry["step"] == own["epochs"][-1]["epoch"]
    plots = run(["uv", "run", "--frozen", "dvc", "plots", "show", "--json"], study)
    assert plots.returncode == 0, plots.stderr[-2000:]
    shown = json.loads(plots.stdout)
    assert "errors" not in shown, shown.get("errors")
    assert sorted(shown["data"]) == sorted(
        f"{tier}: {score}" for tier in ("smoke", "small") for score in SCORES
    )
    rows = shown["data"]["small: test_accuracy"][0]["content"]["data"]["values"]
    expected = {
        (f"{variant}/seed_{seed}", epoch["epoch"]): epoch["test_accuracy"]
        for (tier, variant, seed), own in runs.items()
        if tier == "small"
        for epoch in own["epochs"]
    }
    assert len(rows) == len(expected) == 4 * 5 * 30
    for row in rows:
        run_name = row["filename"].removesuffix("/dvclive/plots/metrics/test_accuracy.tsv")
        assert float(row["test_accuracy"]) == expected[(run_name, int(row["step"]))]


def test_mlflow_ui_serves_the_study_s_runs(study):
    port = free_port()
    command = ["uv", "run", "--frozen", "mlflow", "ui", "--backend-store-uri", "sqlite:///tracking/mlflow.db"]
    # One web worker and no job runner: `mlflow ui` otherwise starts a dozen processes, which a
    # signal to it alone leaves behind; its own session, so that one signal stops them all.
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    environment = without_outer({**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    log = study.parent / "mlflow-ui.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=study, env=environment, stdout=output, stderr=output, start_new_session=True
        )
    try:
        address = f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/experiments/search?max_results=10"
        # It took 14 to 58 s to answer on a busy 2-core machine.
        deadline, answer = time.monotonic() + 180, None
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(address, timeout=5) as response:
                    answer = json.load(response)
            except OSError:
                time.sleep(0.5)
        assert answer is not None, log.read_text()[-2000:]
        assert {"digits-study/smoke", "digits-study/small"} <= {e["name"] for e in answer["experiments"]}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_the_study_passes_its_tests_and_reproduces(study):
    """The tests the trackers change: the research code's and the trackers' own. The rest of the
    fast tier runs with every tracker off (tests/machinery/conftest.py), as the default study's
    CI workflow runs it; so does reproduce's clean room, whose switch is the same at every tier."""
    tracked = ["tests/test_experiment.py", "tests/machinery/test_tracking.py"]
    tests = run(
        [sys.executable, "-m", "nox", "--no-color", "-s", "tests", "--", "-m", "not slow", *tracked], study
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    reproduced = run([sys.executable, "-m", "nox", "--no-color", "-s", "reproduce", "--", "smoke"], study)
    assert reproduced.returncode == 0, reproduced.stdout[-3000:] + reproduced.stderr[-3000:]
    assert "REPRODUCED" in reproduced.stdout
    assert git(study, "status", "--porcelain") == ""


def test_a_broken_tracker_setting_is_named_and_the_tier_recorded_all_the_same(study, tmp_path):
    """Last: it runs the smoke tier again in the study, with MLflow pointed at a server that is not there."""
    settings = yaml.safe_load((study / "conf/tracking.yaml").read_text())
    settings["mlflow"]["tracking_uri"] = f"http://127.0.0.1:{free_port()}"
    (study / "conf/tracking.yaml").write_text(yaml.safe_dump(settings))
    before = {path: path.read_bytes() for path in (study / "runs/smoke").rglob("metrics.json")}
    shutil.rmtree(study / "tracking/wandb")
    tier = ["uv", "run", "--frozen", "python", "-m", "study_machinery", "tier", "smoke", "--rerun-all"]
    result = run(tier, study, PYTHONHASHSEED="0")
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: tracker")]
    assert warnings and all(line.startswith("warning: tracker mlflow: ") for line in warnings), result.stderr
    assert {path: path.read_bytes() for path in (study / "runs/smoke").rglob("metrics.json")} == before
    # The other trackers logged every run.
    assert len(read(study, "wandb")) == 12
    aggregated = run(
        ["uv", "run", "--frozen", "python", "-m", "study_machinery", "aggregate", "smoke"], study
    )
    assert aggregated.returncode == 0, aggregated.stderr
    # The same result; only the compute it took (compute.json) is measured anew.
    result_files = [
        f"results/smoke/{name}" for name in ("metrics.json", "comparisons.json", "runs.csv", "curves.csv")
    ]
    assert git(study, "status", "--porcelain", *result_files) == ""
