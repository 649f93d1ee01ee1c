"""A real single-node SLURM cluster on this machine, for the template's tests and benchmarks.

Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`, as root: .ci/run does):
munged authenticates, slurmctld schedules and slurmd runs the jobs, all on this host, with
their state, logs and ports of their own. SLURM's accounting (slurmdbd and a database) is
left out: the study's slurm executor does without sacct. Not part of any study.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "munged")


def why_not() -> str | None:
    """Why a cluster cannot start here, or None when it can."""
    if any(shutil.which(name, path="/usr/sbin:/usr/bin") is None for name in DAEMONS):
        return "SLURM is not installed here: as root, `apt-get install slurm-wlm munge` (.ci/run does)"
    if os.geteuid() != 0:
        return "starting SLURM's daemons needs root (CI runs as root)"
    return None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for the tests' servers too)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True, check=False)
    decoded = subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True, check=False)
    return decoded.returncode == 0


def _start_munge() -> None:
    if _munge_works():
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    for folder in ("/run/munge", "/var/lib/munge", "/var/log/munge"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    subprocess.run(
        [shutil.which("munged", path="/usr/sbin:/usr/bin"), "--force"], check=True, capture_output=True
    )
    if not _munge_works():
        raise RuntimeError("munged started but does not authenticate")


@contextlib.contextmanager
def slurm_cluster(folder: Path, partition: str = "tests") -> Iterator[dict[str, str]]:
    """Start the cluster with its files in `folder`; yield the environment that reaches it."""
    _start_munge()
    host = socket.gethostname()
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8)
    settings = {
        "ClusterName": partition,
        "SlurmctldHost": host,
        "SlurmUser": "root",
        "AuthType": "auth/munge",
        "SlurmctldPort": free_port(),
        "SlurmdPort": free_port(),
        "StateSaveLocation": folder / "state",
        "SlurmdSpoolDir": folder / "spool",
        "SlurmctldPidFile": folder / "slurmctld.pid",
        "SlurmdPidFile": folder / "slurmd.pid",
        "SlurmctldLogFile": folder / "slurmctld.log",
        "SlurmdLogFile": folder / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_Core",
        "ReturnToService": 2,
        "MpiDefault": "none",
    }
    # No cgroup.conf: Slurm 22.05 refuses `CgroupPlugin=disabled`, and starts without one.
    lines = [f"{key}={value}" for key, value in settings.items()] + [
        f"NodeName={host} CPUs={os.cpu_count()} RealMemory={memory_mb} State=UNKNOWN",
        f"PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slurm.conf").write_text("\n".join(lines) + "\n")
    env = {"SLURM_CONF": str(folder / "slurm.conf")}
    try:
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run(
                [shutil.which(daemon, path="/usr/sbin:/usr/bin")], env={**os.environ, **env}, check=True
            )
        deadline = time.monotonic() + 60
        while True:
            states = subprocess.run(
                ["sinfo", "--noheader", "--format=%t"],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
            ).stdout
            if "idle" in states:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"SLURM's node did not come up: {(folder / 'slurmctld.log').read_text()[-2000:]}"
                )
            time.sleep(0.5)
        yield env
    finally:
        for name in ("slurmd.pid", "slurmctld.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int((folder / name).read_text()), 15)
