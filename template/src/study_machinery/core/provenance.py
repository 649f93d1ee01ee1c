"""What each run records beside its metrics: enough to say how a number was produced."""

import functools
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml

from study_machinery.core.paths import DVC_LOCK, LOCK, ROOT

PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "hydra-core", "omegaconf", "threadpoolctl")


def json_sha256(content: object) -> str:
    """SHA-256 of a JSON value (a resolved config) written canonically: sorted keys, no spaces."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (a worker's covers its earlier runs too)."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _git(*args: str) -> str | None:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def lock_sha256(root: Path = ROOT) -> str | None:
    """SHA-256 of uv.lock: the locked environment (None before the first lock)."""
    lock = root / LOCK
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else None


def data_hashes(root: Path = ROOT) -> dict[str, str]:
    """MD5 of every DVC-tracked data path, as DVC recorded them (dvc.lock, *.dvc)."""
    hashes = {}
    records = [root / DVC_LOCK, *root.glob("data/*.dvc")]
    for record in filter(Path.is_file, records):
        content = yaml.safe_load(record.read_text()) or {}
        stages = content.get("stages", {"": content}).values()
        for out in (out for stage in stages for out in stage.get("outs", [])):
            # Paths in a .dvc file are relative to the folder it is in.
            path = (record.parent / out["path"]).relative_to(root).as_posix()
            if path.startswith("data/"):
                hashes[path] = out.get("md5", "")
    return hashes


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def gpu_models() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        # A driver that does not answer must not stall the run: give up after 10 s.
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        return ["nvidia-smi did not answer"]
    return result.stdout.strip().splitlines() if result.returncode == 0 else []


def watch_accelerator() -> None:
    """Before a run: zero CUDA's peak-memory count, so that `accelerator` sees this run's use alone."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def accelerator() -> dict:
    """After a run: the device it computed on, as PyTorch saw it; the CPU when it did not use PyTorch.

    Read from the modules the run imported: the machinery itself never imports torch. A run
    counts as a CUDA run when it allocated CUDA memory (since `watch_accelerator`), and as an
    MPS run when the MPS allocator holds memory.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return {"device": "cpu"}
    facts = {
        "device": "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if torch.cuda.is_initialized() and torch.cuda.max_memory_allocated() > 0:
        facts |= {"device": "cuda", "gpu": torch.cuda.get_device_name(torch.cuda.current_device())}
    elif torch.backends.mps.is_available() and torch.mps.driver_allocated_memory() > 0:
        facts["device"] = "mps"
    return facts


# What SLURM tells a job about itself, as run.json names it.
SLURM_FACTS = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "partition": "SLURM_JOB_PARTITION",
    "cluster": "SLURM_CLUSTER_NAME",
}


def where() -> dict:
    """Where a run executes: the host, and its SLURM job or Ray node when it is one's."""
    facts: dict = {"host": socket.gethostname()}
    slurm = {name: os.environ[variable] for name, variable in SLURM_FACTS.items() if variable in os.environ}
    if slurm:
        facts["slurm"] = slurm
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        context = ray.get_runtime_context()
        facts["ray"] = {"node_id": context.get_node_id(), "job_id": context.get_job_id()}
    return facts


def _version(package: str) -> str | None:
    """The installed version of a package; None where the study does not use it (torch)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def environment() -> dict:
    """Facts shared by every run of this process, gathered once."""
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "data_md5": data_hashes(),
        "uv_lock_sha256": lock_sha256(),
        "python": platform.python_version(),
        "packages": {name: version for name in PACKAGES if (version := _version(name))},
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "gpus": gpu_models(),
    }
