"""A study's tiers on real engines: a single-node SLURM cluster and a Ray cluster on loopback.

The study is generated and its first result recorded on this machine's cores; its own
commands then run its main tier through sbatch and through Ray, and every run's metrics must
be the same bits, so that the recorded result is the same. On SLURM a tier is also submitted
and left (--detach), one of its jobs cancelled, and collected: the cancelled run is named and
submitted again only on request, and nothing is submitted twice.

SLURM is Debian's slurm-wlm with munge, started here as root (the `slurm` fixture of
conftest.py; .ci/run installs them); where that cannot be, the SLURM tests skip and say why.
"""

import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import REPO, copy_study, git, run
from slurm_cluster import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]

MAIN_TIER = "small"
RESULT_FILES = ["metrics.json", "comparisons.json", "runs.csv", "table.md"]


@pytest.fixture(scope="module")
def study(template, tmp_path_factory):
    """A default study, its first result recorded on this machine's cores (the copy does that)."""
    return copy_study(template, tmp_path_factory.mktemp("cluster") / "study")


def machinery(study: Path, *args: str, group: str | None = None, **env: str) -> subprocess.CompletedProcess:
    command = [
        "uv",
        "run",
        "--frozen",
        *([f"--group={group}"] if group else []),
        "python",
        "-m",
        "study_machinery",
    ]
    return run([*command, *args], study, PYTHONHASHSEED="0", **env)


def run_metrics(study: Path, tier: str) -> dict[str, bytes]:
    runs = study / "runs" / tier
    return {
        path.parent.relative_to(runs).as_posix(): path.read_bytes() for path in runs.rglob("metrics.json")
    }


def where(study: Path, tier: str) -> list[dict]:
    return [
        json.loads(path.read_text())["where"] for path in sorted((study / "runs" / tier).rglob("run.json"))
    ]


def assert_same_recorded_result(study: Path) -> None:
    """`dvc repro` aggregates the runs again: the recorded result in git is unchanged.

    All but the compute the runs took (compute.json, the table's last line), which is measured.
    """
    result = run(["uv", "run", "--frozen", "dvc", "repro"], study, PYTHONHASHSEED="0")
    assert result.returncode == 0, result.stdout + result.stderr
    tracked = [f"results/{MAIN_TIER}/{name}" for name in RESULT_FILES]
    changed = git(study, "diff", "--unified=0", *tracked).splitlines()
    edits = [line for line in changed if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert all(line[1:].startswith("Compute: 30 runs,") for line in edits), "\n".join(changed)


def test_the_main_tier_on_ray_gives_the_same_bits_and_result(study):
    """First: the runs then hold no SLURM submission, which would need SLURM to answer."""
    local = run_metrics(study, MAIN_TIER)
    # Ray's sockets live under its temporary folder, and a socket's path has at most 107 bytes.
    temporary = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    synced = run(["uv", "sync", "--frozen", "--inexact", "--group=ray"], study)
    assert synced.returncode == 0, synced.stderr
    port = free_port()
    head = run(
        [".venv/bin/ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temporary}"],
        study,
    )  # fmt: skip
    assert head.returncode == 0, head.stdout + head.stderr
    try:
        result = machinery(
            study, "tier", MAIN_TIER, "executor=ray", f"executor.address=127.0.0.1:{port}", "--rerun-all"
        )
        # A search's trials, batch by batch, on the same Ray cluster: the same ledger as here.
        searched, on_ray, _ = searched_twice(study, "executor=ray", f"executor.address=127.0.0.1:{port}")
    finally:
        run([".venv/bin/ray", "stop", "--force"], study)
        shutil.rmtree(temporary, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert on_ray == searched
    assert run_metrics(study, MAIN_TIER) == local
    assert all("ray" in place and "node_id" in place["ray"] for place in where(study, MAIN_TIER))
    assert_same_recorded_result(study)


# A fenced block of docs/clusters.md whose first line names the file it is: `# PATH`.
DOC_FILE = re.compile(r"^```(?:python|yaml)\n# (\S+)\n(.*?)^```", re.M | re.S)


def test_an_engine_added_as_docs_clusters_md_shows_runs_a_tier_to_the_same_bits(study):
    """Another engine is one module and one file: those of the docs, copied as they stand."""
    blocks = DOC_FILE.findall((REPO / "docs" / "clusters.md").read_text())
    assert [path for path, _ in blocks] == [
        "src/study_machinery/executors/processes.py",
        "conf/executor/processes.yaml",
    ]
    before = run_metrics(study, "smoke")
    try:
        for path, text in blocks:
            (study / path).write_text(text)
        result = machinery(study, "tier", "smoke", "executor=processes", "--rerun-all")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "12 runs executed" in result.stderr
        assert run_metrics(study, "smoke") == before
        status = machinery(study, "status", "smoke", "--summary")
        assert "0 of 12 runs to execute" in status.stdout, status.stdout
    finally:
        for path, _ in blocks:
            (study / path).unlink(missing_ok=True)


def test_the_main_tier_on_slurm_gives_the_same_bits_and_result(study, slurm):
    local = run_metrics(study, MAIN_TIER)
    assert len(local) == 30
    result = machinery(
        study, "tier", MAIN_TIER, "executor=slurm", "executor.poll_seconds=1", "--rerun-all", **slurm
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "30 runs submitted as SLURM job array" in result.stderr
    assert run_metrics(study, MAIN_TIER) == local
    places = where(study, MAIN_TIER)
    assert all(place["slurm"]["partition"] == "tests" for place in places)
    assert len({place["slurm"]["array_job_id"] for place in places}) == 1
    assert sorted(int(place["slurm"]["array_task_id"]) for place in places) == list(range(30))
    assert_same_recorded_result(study)
    compute = json.loads((study / "results" / MAIN_TIER / "compute.json").read_text())
    assert compute["hosts"] == 1 and compute["runs"] == 30


def test_a_detached_tier_is_collected_later_and_a_cancelled_job_resubmitted_on_request(study, slurm):
    tier = "smoke"
    local = run_metrics(study, tier)
    # One run at a time, so that the last ones are still pending when one is cancelled.
    started = time.monotonic()
    result = machinery(
        study, "tier", tier, "executor=slurm", "executor.max_parallel=1", "--rerun-all", "--detach", **slurm
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30, "--detach gives the shell back without waiting for the runs"
    assert "Your shell is free" in result.stderr
    queue = run(["squeue", "--noheader", "--array", "--format=%i %T"], study, **slurm).stdout
    jobs = dict(line.split() for line in queue.splitlines())
    assert len(jobs) == 12, jobs
    last = max(jobs, key=lambda job: int(job.split("_")[1]))
    assert run(["scancel", last], study, **slurm).returncode == 0

    status = machinery(study, "status", tier, **slurm)
    assert f"SLURM job {last}" in status.stdout

    collected = machinery(study, "tier", tier, "executor=slurm", "executor.poll_seconds=1", **slurm)
    output = collected.stdout + collected.stderr
    assert collected.returncode == 1, output
    assert "baseline/logistic_regression seed 1: SLURM: CANCELLED" in output
    assert "Traceback" not in output
    assert len(list((study / "jobs" / tier).glob("*.sbatch"))) == 1, "nothing was submitted twice"
    # The cancelled run's recorded result stays: its forced re-run never finished.
    assert run_metrics(study, tier) == local

    again = machinery(study, "tier", tier, "executor=slurm", **slurm)
    assert again.returncode == 1 and "not resubmitted (add --resubmit)" in again.stderr
    assert len(list((study / "jobs" / tier).glob("*.sbatch"))) == 1

    resubmitted = machinery(
        study, "tier", tier, "executor=slurm", "executor.poll_seconds=1", "--resubmit", **slurm
    )
    assert resubmitted.returncode == 0, resubmitted.stdout + resubmitted.stderr
    assert "1 runs submitted" in resubmitted.stderr
    assert run_metrics(study, tier) == local
    assert_same_recorded_result(study)


def test_a_forced_rerun_keeps_every_result_until_replaced_and_executes_what_it_announces(study, slurm):
    """After the jobs above, each smoke run's folder holds the record of the SLURM job that ended.

    A forced re-run asking for more than the node has is never started by SLURM: the tier says
    why, in seconds, and every recorded run stays. Then a forced re-run, detached and collected,
    submits and executes every run it announces.
    """
    tier = "smoke"
    local = run_metrics(study, tier)
    records = {path: path.read_bytes() for path in (study / "runs" / tier).rglob("run.json")}
    assert len(records) == 12
    slurm_fast = ["executor=slurm", "executor.poll_seconds=1"]
    # More memory than any node of the cluster has: SLURM takes the held array, never starts it.
    hopeless = machinery(
        study, "tier", tier, *slurm_fast, "executor.memory_per_run=100000G", "--rerun-all", **slurm
    )
    output = hopeless.stdout + hopeless.stderr
    assert hopeless.returncode == 1, output
    assert "12 of 12 runs of tier smoke failed" in output
    assert "SLURM: PENDING (BadConstraints), which SLURM never starts" in output
    assert "Traceback" not in output
    array = re.search(r"`scancel (\d+)`", output)[1]
    assert {path: path.read_bytes() for path in records} == records, "no recorded run was emptied"
    assert run(["scancel", array], study, **slurm).returncode == 0

    # A node that cannot see the study: the job's working folder, where SLURM writes its log, is
    # not there (on this cluster's one node, a folder that exists nowhere stands in for it).
    unseen = machinery(
        study,
        "tier",
        tier,
        *slurm_fast,
        "executor.sbatch_options=[--chdir=/nowhere/study]",
        "--rerun-all",
        **slurm,
    )
    output = unseen.stdout + unseen.stderr
    assert unseen.returncode == 1, output
    assert (
        "SLURM: FAILED before the study's code started: SLURM could not write its log into jobs/smoke/"
        in output
    )
    assert f"so {socket.gethostname()} most likely cannot see the study at {study}" in output
    assert "log:" not in output, "no pointer to a log that was never written"
    assert {path: path.read_bytes() for path in records} == records, "no recorded run was emptied"

    detached = machinery(study, "tier", tier, "executor=slurm", "--rerun-all", "--detach", **slurm)
    assert detached.returncode == 0, detached.stdout + detached.stderr
    assert "runs@smoke: 12 of 12 runs to execute" in detached.stderr
    assert "12 runs submitted as SLURM job array" in detached.stderr
    job = re.search(r"submitted as SLURM job array (\d+)", detached.stderr)[1]
    collected = machinery(study, "tier", tier, *slurm_fast, **slurm)
    said = collected.stdout + collected.stderr
    assert collected.returncode == 0, said
    # The jobs that finished before the collecting command looked are done for it: it announces
    # only the others, and executes (collects) as many as it announces.
    announced = int(re.search(r"runs@smoke: (\d+) of 12 runs to execute", said)[1])
    assert f"runs@smoke: {announced} runs executed" in said
    assert run_metrics(study, tier) == local
    arrays = {place["slurm"]["array_job_id"] for place in where(study, tier)}
    assert arrays == {job}, "every run was executed again, by the forced re-run's array"
    assert not list((study / "runs" / tier).rglob("*.attempt")), "every attempt replaced its run's folder"
    # On this machine's cores too, each run's record of its SLURM job is history, not a reason to skip.
    here = machinery(study, "tier", tier, "executor=basic", "--rerun-all")
    assert here.returncode == 0, here.stdout + here.stderr
    assert (
        "runs@smoke: 12 of 12 runs to execute" in here.stderr
        and "runs@smoke: 12 runs executed" in here.stderr
    )
    assert run_metrics(study, tier) == local
    assert_same_recorded_result(study)


def search_record(study: Path, tier: str) -> dict[str, bytes]:
    """A search's ledgers and the choices it wrote."""
    folders = [study / "results" / tier / "search", study / "conf" / "tuned" / tier]
    return {
        path.relative_to(study).as_posix(): path.read_bytes()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.suffix in (".json", ".yaml")
    }


# The search on this machine, by study: the same search every time, so it runs once.
SEARCHED_HERE: dict[Path, dict[str, bytes]] = {}


def searched_twice(study: Path, *elsewhere: str, **env: str) -> tuple[dict, dict, str]:
    """The smoke tier's search on this machine (once per study), then from nothing on another
    executor, its choices of the first in conf/tuned/ as the first left them; what each recorded
    and what the second said. The study is left as it was (no search, no choice)."""
    tier = "smoke"
    made = [study / "trials", study / "results" / tier / "search", study / "conf" / "tuned"]
    try:
        if study not in SEARCHED_HERE:
            here = machinery(study, "tune", tier)
            assert here.returncode == 0, here.stdout + here.stderr
            SEARCHED_HERE[study] = search_record(study, tier)
            for folder in made[:2]:
                shutil.rmtree(folder)
        local = SEARCHED_HERE[study]
        assert len(local) >= 6, "a ledger and a choice for the method and each baseline"
        for name, content in local.items():
            if name.startswith("conf/"):
                (study / name).parent.mkdir(parents=True, exist_ok=True)
                (study / name).write_bytes(content)
        there = machinery(study, "tune", tier, *elsewhere, **env)
        said = there.stdout + there.stderr
        assert there.returncode == 0, said
        return local, search_record(study, tier), said
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
        for kind in ("png", "pdf"):
            (study / "results" / tier / f"search.{kind}").unlink(missing_ok=True)


def test_a_search_on_slurm_gives_the_same_ledger_and_choices_as_on_this_machine(study, slurm):
    local, on_slurm, said = searched_twice(study, "executor=slurm", "executor.poll_seconds=1", **slurm)
    # Each batch of trials (4 trials x 2 seeds) is one job array; its jobs rebuild each trial's
    # config from the command line the job script gives them.
    assert "search@smoke: 8 runs submitted as SLURM job array" in said
    assert (study / "jobs" / "smoke-search").is_dir()
    assert on_slurm == local
