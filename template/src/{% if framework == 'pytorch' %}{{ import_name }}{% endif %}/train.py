"""Training in plain PyTorch: seeded, deterministic, and resumable from its last checkpoint.

Same seed, same machine, same metrics, bit for bit: every RNG is seeded from the config,
PyTorch is told to use deterministic algorithms only, and the data order comes from a
generator of the run's own. A checkpoint holds that generator's state and PyTorch's, so a
resumed run draws what the uninterrupted one would have drawn. Another GPU model, or the CPU
instead of a GPU, rounds differently: there the metrics agree only within the tolerance of
conf/study.yaml.
"""

import json
import logging
import os
import random
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .config import Config, Device

log = logging.getLogger(__name__)

# cuBLAS is deterministic only with this workspace setting, read when CUDA starts: dvc.yaml
# and the noxfile set it before Python starts, as PYTHONHASHSEED.
CUBLAS_WORKSPACE = ":4096:8"


def make_deterministic(seed: int, threads: int) -> None:
    """Seed Python's, NumPy's and PyTorch's RNGs (CUDA's too), and allow deterministic kernels only."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    # TF32 trades precision for speed on recent GPUs: off, so a GPU computes in float32.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(threads)


def choose_device(wanted: Device) -> torch.device:
    """The device the config asks for; auto takes a CUDA GPU when there is one, else the CPU.

    Not Apple's MPS: PyTorch has no deterministic backward pass of MaxPool2d there, so a run on
    MPS gets PyTorch's warning instead of an error, and is not bit-reproducible. Ask for it with
    device=mps.
    """
    if wanted is Device.auto:
        wanted = Device.cuda if torch.cuda.is_available() else Device.cpu
    if wanted is Device.cuda and not torch.cuda.is_available():
        raise RuntimeError("device=cuda, but PyTorch sees no CUDA GPU here: use device=auto or device=cpu.")
    if wanted is Device.mps and not torch.backends.mps.is_available():
        raise RuntimeError("device=mps, but this machine has no Apple GPU: use device=auto or device=cpu.")
    if wanted is Device.cuda and os.environ.get("CUBLAS_WORKSPACE_CONFIG") != CUBLAS_WORKSPACE:
        raise RuntimeError(
            f"on CUDA, set CUBLAS_WORKSPACE_CONFIG={CUBLAS_WORKSPACE} before Python starts "
            "(dvc repro and nox do), or cuBLAS is not deterministic."
        )
    if wanted is Device.mps:
        log.warning("device=mps: some operations have no deterministic version there; runs may differ.")
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.device(wanted.value)


def _seed_worker(worker_id: int) -> None:
    """Seed a DataLoader worker's NumPy and Python RNGs from the seed PyTorch gave it."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def train(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    config: Config,
    device: torch.device,
    checkpoint: Path,
    after_epoch: Callable[[int], None] | None = None,
) -> None:
    """Mini-batch Adam on the cross-entropy for `config.training.epochs`, resuming from `checkpoint`.

    `after_epoch(epoch)` is called at the end of each epoch, before its checkpoint: a run stopped
    in between resumes from an earlier checkpoint and reports that epoch again.
    """
    settings = config.training
    order = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(
        TensorDataset(
            torch.as_tensor(images, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.long)
        ),
        batch_size=settings.batch_size,
        shuffle=True,
        generator=order,
        num_workers=settings.num_workers,
        worker_init_fn=_seed_worker,
    )
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    # The whole config: a checkpoint of another config (the same folder, other overrides) is not resumed.
    fingerprint = json.dumps(asdict(config), sort_keys=True, default=str)
    first = resume(checkpoint, fingerprint, model, optimizer, order, device)
    for epoch in range(first, settings.epochs):
        model.train()
        total = 0.0
        for batch, targets in loader:
            batch, targets = batch.to(device), targets.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(batch), targets)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(targets)
        done = epoch + 1
        log.info("epoch %d/%d: training loss %.4f", done, settings.epochs, total / len(loader.dataset))
        if after_epoch is not None:
            after_epoch(done)
        if done % settings.checkpoint_every == 0 or done == settings.epochs:
            save(checkpoint, fingerprint, done, model, optimizer, order, device)


def save(
    path: Path,
    fingerprint: str,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    order: torch.Generator,
    device: torch.device,
) -> None:
    """Write the checkpoint whole or not at all: to a temporary name, then renamed over the last one."""
    state = {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        # Dropout draws from the RNG of the device it runs on, the data order from `order`.
        "rng": {"torch": torch.get_rng_state(), "device": _device_rng(device), "order": order.get_state()},
    }
    partial = path.with_suffix(".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("wb") as file:
        torch.save(state, file)
        file.flush()
        os.fsync(file.fileno())  # on disk before the rename: a power cut leaves the old one whole
    partial.replace(path)


def _device_rng(device: torch.device) -> torch.Tensor | None:
    """The RNG state of the GPU the run uses (None on the CPU, whose state is saved anyway)."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def resume(
    path: Path,
    fingerprint: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    order: torch.Generator,
    device: torch.device,
) -> int:
    """Load the last checkpoint of this very config, if any; return the epoch to start from."""
    if not path.is_file():
        return 0
    try:
        # weights_only: tensors and plain containers, never arbitrary pickled objects.
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a damaged file costs the epochs it held, never the run
        log.warning("%s cannot be read (%s): starting from epoch 0.", path, error)
        return 0
    if state.get("fingerprint") != fingerprint:
        log.warning("%s is a checkpoint of another config: starting from epoch 0.", path)
        return 0
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if device.type == "cuda" and state["rng"]["device"] is not None:
        torch.cuda.set_rng_state(state["rng"]["device"].cpu(), device)
    elif device.type == "mps" and state["rng"]["device"] is not None:
        torch.mps.set_rng_state(state["rng"]["device"].cpu())
    order.set_state(state["rng"]["order"].cpu())
    log.info("resumed from %s after epoch %d", path, state["epoch"])
    return state["epoch"]


def logits(model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int) -> torch.Tensor:
    """The network's scores for each class of each image (evaluation mode: no dropout), on the CPU."""
    model.eval()
    inputs = torch.as_tensor(images, dtype=torch.float32)
    with torch.no_grad():
        scores = [
            model(inputs[start : start + batch_size].to(device)).cpu()
            for start in range(0, len(inputs), batch_size)
        ]
    return torch.cat(scores)


def predict(model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int) -> np.ndarray:
    """The most likely class of each image."""
    return logits(model, images, device, batch_size).argmax(dim=1).numpy()


def evaluate(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, device: torch.device, batch_size: int
) -> tuple[float, float]:
    """The cross-entropy and accuracy on a whole split, as the learning curves show them.

    One forward pass over the split: at the end of each epoch, about a third of what the epoch's
    training costs on the same images (a backward pass costs about twice a forward one).
    """
    scores, targets = logits(model, images, device, batch_size), torch.as_tensor(labels, dtype=torch.long)
    loss = nn.functional.cross_entropy(scores, targets).item()
    return loss, (scores.argmax(dim=1) == targets).double().mean().item()
