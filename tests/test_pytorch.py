"""A PyTorch study: recorded at copy time on the CPU, its lint and research tests pass (a run
killed mid-training among them), and `nox -s reproduce` verifies it.

One study, generated once: torch is a 5 GB environment, hard-linked from uv's cache after the
first install, and every step here trains networks.
"""

import csv
import json
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from conftest import copy_study, git, research_and_house_tests, run
from test_generate import expected_files
from test_study import nox, unreserved_modules

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pytorch")]


@pytest.fixture(scope="module")
def study(template, tmp_path_factory):
    return copy_study(template, tmp_path_factory.mktemp("pytorch") / "study", framework="pytorch")


def test_the_first_commit_holds_a_result_trained_with_pytorch(study):
    assert set(git(study, "ls-files").splitlines()) == expected_files(
        "digits_study", recorded=True, framework="pytorch"
    )
    assert git(study, "status", "--porcelain") == ""
    summary = json.loads((study / "results/small/metrics.json").read_text())
    assert set(summary) == {
        "proposed",
        "ablation/no_augmentation",
        "ablation/no_dropout",
        "ablation/no_standardization",
        "baseline/logistic_regression",
        "baseline/mlp",
    }
    record = json.loads((study / "runs/small/proposed/seed_0/run.json").read_text())
    assert record["accelerator"]["device"] == "cpu" and record["gpus_used"] == 0
    assert {"torch", "cuda", "cudnn"} <= set(record["accelerator"])
    assert "torch" in record["environment"]["packages"]
    # The checkpoints are DVC outputs (runs/ is one), never in git.
    assert (study / "runs/small/proposed/seed_0/checkpoint.pt").is_file()
    assert not [name for name in git(study, "ls-files").splitlines() if name.endswith(".pt")]
    outs = yaml.safe_load((study / "dvc.lock").read_text())["stages"]["runs@small"]["outs"]
    assert [out["path"] for out in outs] == ["runs/small"]
    study_config = yaml.safe_load((study / "conf/study.yaml").read_text())
    assert study_config["tolerance"]["accuracy"] == {"kind": "statistical", "confidence": 0.95}
    # Every variant is a network trained in epochs by the same loop: all six have learning curves.
    with (study / "results/small/curves.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["variant"] for row in rows} == set(summary)
    assert {int(row["epoch"]) for row in rows} == set(range(1, 9)), "the small scale's 8 epochs"
    assert "![Learning curves per variant" in (study / "README.md").read_text()


def test_lint_passes(study):
    result = nox(study, "-s", "lint")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_its_research_tests_pass_with_a_run_killed_mid_training(study):
    # Those of its research code, slow ones too, but the two reproductions, which `nox -s
    # reproduce` below does once. Of tests/machinery, the house: the rest is the same code over
    # the same machinery as the default study's, which runs it (tests/test_study.py), as does
    # the study ported to another task (tests/test_own_task.py); here it took 80 s more.
    tests = research_and_house_tests(study)
    assert "tests/test_training.py" in tests
    result = nox(study, "-s", "tests", "--", "-k", "not reproduces", "-v", "-rs", *tests)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    killed = "test_a_run_killed_mid_training_resumes_to_the_same_metrics_bit_for_bit"
    assert f"{killed}[one process] PASSED" in output
    assert "test_loader_workers_change_nothing_and_the_same_seed_gives_the_same_bits PASSED" in output
    # This machine has no GPU: the GPU test says so rather than pass.
    assert "no CUDA GPU here: the CPU-vs-GPU check needs one" in output
    assert "no CUDA GPU here: the NCCL check needs one" in output
    # And on two processes (distributed.processes=2), with a batch they cannot share refused.
    assert f"{killed}[two processes] PASSED" in output
    for name in (
        "test_a_batch_that_the_processes_cannot_share_is_refused_in_one_line",
        "test_a_process_killed_under_a_run_of_two_ends_it_in_one_line_and_keeps_its_checkpoint",
    ):
        assert f"{name} PASSED" in output


def test_reproduce_verifies_the_main_result_in_a_clean_room_linked_to_uv_s_cache(study):
    result = nox(study, "-s", "reproduce", "--", "--keep")
    clean_room = Path(re.search(r" in (\S+) \.\.\.$", result.stdout, re.MULTILINE).group(1)).parent
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "REPRODUCED: every recorded metric and claim is within its tolerance." in result.stdout
        assert "statistical: mean only" in result.stdout, "a re-run elsewhere is judged by its means"
        # The 5 GB environment is not copied a second time: torch's libraries are links into uv's cache.
        libraries = list((clean_room / "study/.venv").glob("lib/python*/site-packages/torch/lib/*.so*"))
        assert libraries and all(library.stat().st_nlink > 1 for library in libraries)
    finally:
        shutil.rmtree(clean_room, ignore_errors=True)
    assert git(study, "status", "--porcelain") == ""


def recorded(runs):
    """Every run's metrics, and its scores of each epoch (recorded once) for the learning curves.

    Those of recorded runs: not of an attempt executing beside one (VARIANT/seed_S.attempt/).
    """
    return {
        path.relative_to(runs): path.read_bytes()
        for name in ("metrics.json", "epochs.json")
        for path in runs.rglob(name)
        if not path.parent.name.endswith(".attempt")
    }


def test_a_job_cancelled_mid_training_on_slurm_resumes_from_its_checkpoint(study, slurm, tmp_path):
    """Preemption on a real SLURM: a job stopped mid-training, resubmitted on request, resumes
    from its last checkpoint and ends with the bits of an uninterrupted run.

    In a copy of the study (not its environment) with two variants and the medium scale (20
    epochs, seconds a run): long enough to stop a run between its checkpoints.
    """
    copy = tmp_path / "study"
    shutil.copytree(study, copy, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".nox"))
    for variant in (copy / "conf/variant/ablation").glob("*.yaml"):
        variant.unlink()
    (copy / "conf/variant/baseline/mlp.yaml").unlink()
    (copy / "conf/search/baseline/mlp.yaml").unlink()
    settings = yaml.safe_load((copy / "conf/study.yaml").read_text())
    settings["tiers"]["medium"] = {"seeds": [0, 1]}
    (copy / "conf/study.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    env = {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8", **slurm}
    tier = ["uv", "run", "--frozen", "python", "-m", "study_machinery", "tier", "medium"]
    on_slurm = ["executor=slurm", "executor.gpus_per_run=0", "executor.poll_seconds=1"]
    local = run([*tier, "executor=cores"], copy, **env)
    assert local.returncode == 0, local.stderr
    runs = copy / "runs/medium"
    uninterrupted = recorded(runs)
    assert len(uninterrupted) == 8

    # One run at a time: the method's seed 0 first; stop it once it has saved a checkpoint.
    detached = run([*tier, *on_slurm, "executor.max_parallel=1", "--rerun-all", "--detach"], copy, **env)
    assert detached.returncode == 0, detached.stderr
    # The forced re-run executes beside the recorded run, in its attempt folder.
    folder, attempt = runs / "proposed/seed_0", runs / "proposed/seed_0.attempt"
    deadline = time.monotonic() + 120
    while not (attempt / "checkpoint.pt").exists():
        assert time.monotonic() < deadline, "no checkpoint within two minutes"
        time.sleep(0.1)
    job = json.loads((attempt / "submitted.json").read_text())["job"]
    assert run(["scancel", job], copy, **env).returncode == 0

    collected = run([*tier, *on_slurm], copy, **env)
    assert collected.returncode == 1, collected.stderr
    assert "proposed seed 0: SLURM: CANCELLED; not resubmitted (add --resubmit)" in collected.stderr
    assert (attempt / "checkpoint.pt").exists() and not (attempt / "metrics.json").exists()
    assert recorded(runs) == uninterrupted, "the recorded runs stay whole while their re-run is unfinished"

    resubmitted = run([*tier, *on_slurm, "--resubmit"], copy, **env)
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert "resumed from" in (folder / "run.log").read_text()
    assert recorded(runs) == uninterrupted


def test_a_tier_of_runs_on_two_processes_each_gives_the_same_bits_on_cores_slurm_and_ray(
    study, slurm, tmp_path
):
    """distributed.processes=2 for every run of a tier: the local executor gives each run two
    cores (one worker on this machine's two), SLURM one task of two CPUs per run, Ray a task of
    two CPUs, and all three record the same metrics and epochs, bit for bit, each run with its
    two processes."""
    copy = tmp_path / "study"
    shutil.copytree(study, copy, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".nox"))
    # The method alone, over two seeds: two runs of two processes each.
    for kind in ("variant/ablation", "variant/baseline", "search/baseline"):
        for file in (copy / "conf" / kind).glob("*.yaml"):
            file.unlink()
    # At the small scale (8 epochs: 8.5 s a run of two processes here, 11.2 s at the 20 of
    # medium), its recorded runs set aside: the bits of three executors are compared, not a record.
    shutil.rmtree(copy / "runs/small")
    settings = yaml.safe_load((copy / "conf/study.yaml").read_text())
    settings["tiers"]["small"] = {"seeds": [0, 1]}
    (copy / "conf/study.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    config = (copy / "conf/config.yaml").read_text()
    assert "distributed:\n  processes: 1\n" in config
    (copy / "conf/config.yaml").write_text(config.replace("processes: 1", "processes: 2"))
    env = {"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8", **slurm}
    tier = ["uv", "run", "--frozen", "python", "-m", "study_machinery", "tier", "small"]
    local = run([*tier, "executor=cores"], copy, **env)
    assert local.returncode == 0, local.stderr
    runs = copy / "runs/small"
    on_cores = recorded(runs)
    assert len(on_cores) == 4, "two runs, each with its metrics and epochs"
    for record in runs.rglob("run.json"):
        facts = json.loads(record.read_text())
        assert facts["distributed"]["world_size"] == 2 and facts["cpu_cores_used"] == 2
        assert "slurm" not in facts["where"]

    on_slurm = ["executor=slurm", "executor.gpus_per_run=0", "executor.poll_seconds=1"]
    again = run([*tier, *on_slurm, "--rerun-all"], copy, **env)
    assert again.returncode == 0, again.stderr
    assert recorded(runs) == on_cores, "the same bits on SLURM as on the local cores"
    for record in runs.rglob("run.json"):
        facts = json.loads(record.read_text())
        assert facts["distributed"]["world_size"] == 2 and facts["where"]["slurm"]["job_id"]
    [script] = (copy / "jobs/small").glob("*.sbatch")
    assert "#SBATCH --cpus-per-task=2" in script.read_text(), "a run's two processes, one thread each"

    # And on a Ray cluster of this machine for the tier's length: a task of two CPUs per run.
    synced = run(["uv", "sync", "--frozen", "--inexact", "--group=ray"], copy)
    assert synced.returncode == 0, synced.stderr
    on_ray = run([*tier, "executor=ray", "executor.gpus_per_run=0", "--rerun-all"], copy, **env)
    assert on_ray.returncode == 0, on_ray.stderr
    assert recorded(runs) == on_cores, "the same bits on Ray as on the local cores"
    for record in runs.rglob("run.json"):
        facts = json.loads(record.read_text())
        assert facts["distributed"]["world_size"] == 2 and "ray" in facts["where"]


def test_no_module_a_pytorch_study_locks_can_be_its_import_name(study):
    """Nor a module of PyTorch's packages, in a scikit-learn study too (reserved_import_names.py)."""
    missing = unreserved_modules(study, "digits_study")
    assert not missing, f"run `uvx nox -s reserved_names -- SKLEARN PYTORCH`: {missing} are missing"
