"""A study's tiers on real engines: a single-node SLURM cluster and a Ray cluster on loopback.

The study is generated and its first result recorded on this machine's cores; its own
commands then run its main tier through sbatch and through Ray, and every run's metrics must
be the same bits, so that the recorded result is the same. On SLURM a tier is also submitted
and left (--detach), one of its jobs cancelled, and collected: the cancelled run is named and
submitted again only on request, and nothing is submitted twice.

SLURM is Debian's slurm-wlm with munge, started here as root (.ci/run installs them); where
that cannot be, the SLURM tests skip and say why.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import copy_study, git, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]

MAIN_TIER = "small"
RESULT_FILES = ["metrics.json", "comparisons.json", "runs.csv", "table.md"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True, check=False)
    decoded = subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, check=False)
    return decoded.returncode == 0


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A real single-node SLURM cluster (slurmctld, slurmd, munge): the environment to reach it."""
    daemons = [shutil.which(name, path="/usr/sbin:/usr/bin") for name in ("slurmctld", "slurmd", "munged")]
    if None in daemons:
        pytest.skip("SLURM is not installed here: as root, `apt-get install slurm-wlm munge` (.ci/run does)")
    if os.geteuid() != 0:
        pytest.skip("starting SLURM's daemons needs root (CI runs as root)")
    slurmctld, slurmd, munged = daemons
    if not _munge_works():
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            shutil.chown(key, "munge", "munge")
            key.chmod(0o400)
        for folder in ("/run/munge", "/var/lib/munge", "/var/log/munge"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        subprocess.run([munged, "--force"], check=True, capture_output=True)
        assert _munge_works(), "munged started but does not authenticate"
    folder = tmp_path_factory.mktemp("slurm")
    host = socket.gethostname()
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    conf = folder / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=tests",
                f"SlurmctldHost={host}",
                "SlurmUser=root",
                "AuthType=auth/munge",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                f"StateSaveLocation={folder}/state",
                f"SlurmdSpoolDir={folder}/spool",
                f"SlurmctldPidFile={folder}/slurmctld.pid",
                f"SlurmdPidFile={folder}/slurmd.pid",
                f"SlurmctldLogFile={folder}/slurmctld.log",
                f"SlurmdLogFile={folder}/slurmd.log",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "ReturnToService=2",
                "MpiDefault=none",
                f"NodeName={host} CPUs={os.cpu_count()} RealMemory={memory_mb} State=UNKNOWN",
                f"PartitionName=tests Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = {"SLURM_CONF": str(conf)}
    for daemon in (slurmctld, slurmd):
        subprocess.run([daemon], env={**os.environ, **env}, check=True)
    try:
        deadline = time.monotonic() + 60
        while "idle" not in run(["sinfo", "--noheader", "--format=%t"], folder, **env).stdout:
            assert time.monotonic() < deadline, (folder / "slurmctld.log").read_text()[-2000:]
            time.sleep(0.5)
        yield env
    finally:
        for name in ("slurmd.pid", "slurmctld.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((folder / name).read_text()), 15)


@pytest.fixture(scope="module")
def study(template, tmp_path_factory):
    """A default study, its first result recorded on this machine's cores (the copy does that)."""
    return copy_study(template, tmp_path_factory.mktemp("cluster") / "study")


def machinery(study: Path, *args: str, group: str | None = None, **env: str) -> subprocess.CompletedProcess:
    command = ["uv", "run", "--frozen", *([f"--group={group}"] if group else []), "python", "-m", "study_machinery"]
    return run([*command, *args], study, PYTHONHASHSEED="0", **env)


def run_metrics(study: Path, tier: str) -> dict[str, bytes]:
    runs = study / "runs" / tier
    return {path.parent.relative_to(runs).as_posix(): path.read_bytes() for path in runs.rglob("metrics.json")}


def where(study: Path, tier: str) -> list[dict]:
    return [json.loads(path.read_text())["where"] for path in sorted((study / "runs" / tier).rglob("run.json"))]


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


def test_the_main_tier_on_ray_gives_the_same_bits_and_result(study):
    local = run_metrics(study, MAIN_TIER)
    # Ray's sockets live under its temporary folder, and a socket's path has at most 107 bytes.
    temporary = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    synced = run(["uv", "sync", "--frozen", "--inexact", "--group=ray"], study)
    assert synced.returncode == 0, synced.stderr
    port = _free_port()
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
    finally:
        run([".venv/bin/ray", "stop", "--force"], study)
        shutil.rmtree(temporary, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_metrics(study, MAIN_TIER) == local
    assert all("ray" in place and "node_id" in place["ray"] for place in where(study, MAIN_TIER))
    assert_same_recorded_result(study)


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
    jobs = dict(
        line.split() for line in run(["squeue", "--noheader", "--array", "--format=%i %T"], study, **slurm).stdout.splitlines()
    )  # fmt: skip
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
    assert len(run_metrics(study, tier)) == 11

    again = machinery(study, "tier", tier, "executor=slurm", **slurm)
    assert again.returncode == 1 and "not resubmitted (add --resubmit)" in again.stderr
    assert len(list((study / "jobs" / tier).glob("*.sbatch"))) == 1

    resubmitted = machinery(study, "tier", tier, "executor=slurm", "executor.poll_seconds=1", "--resubmit", **slurm)
    assert resubmitted.returncode == 0, resubmitted.stdout + resubmitted.stderr
    assert "1 runs submitted" in resubmitted.stderr
    assert run_metrics(study, tier) == local
    assert_same_recorded_result(study)
