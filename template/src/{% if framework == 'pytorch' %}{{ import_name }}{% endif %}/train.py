"""Training in plain PyTorch: seeded, deterministic, and resumable from its last checkpoint.

Same seed, same machine, same metrics, bit for bit: every RNG is seeded from the config,
PyTorch is told to use deterministic algorithms only, and the data order comes from a
generator of the run's own. A checkpoint holds that generator's state and PyTorch's, so a
resumed run draws what the uninterrupted one would have drawn. Another GPU model, or the CPU
instead of a GPU, rounds differently: there the metrics agree only within the tolerance of
conf/study.yaml.
"""

import copy
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
    """Load the last checkpoint of this very config, if any; return the epoch to start from.

    A checkpoint that cannot be used, whatever it holds (a damaged file, an object pickle that
    weights_only refuses, another config's, another shape), costs the epochs it held, never the
    run: it is set aside under another name, never deleted, and training starts from epoch 0.
    """
    if not path.is_file():
        return 0
    try:
        # weights_only: tensors and plain containers, never arbitrary pickled objects.
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:
        return _set_aside(path, f"torch.load refuses it: {_first_line(error)}")
    unfit = _unfit(state, fingerprint)
    if unfit is not None:
        return _set_aside(path, unfit)
    # On the CPU: a copy of a GPU model and its optimiser's state must not double their memory there.
    before = (
        _on_cpu(model.state_dict()),
        _on_cpu(optimizer.state_dict()),
        torch.get_rng_state(),
        _device_rng(device),
        order.get_state(),
    )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rngs(state["rng"]["torch"], state["rng"]["device"], state["rng"]["order"], order, device)
    except Exception as error:  # loaded in part: put back what was there, as if never loaded
        model.load_state_dict(before[0])
        optimizer.load_state_dict(before[1])
        _set_rngs(*before[2:], order, device)
        return _set_aside(path, f"it does not fit this model and optimizer: {_first_line(error)}")
    log.info("resumed from %s after epoch %d", path, state["epoch"])
    return state["epoch"]


# What save() writes, and what resume() needs of it.
CHECKPOINT_KEYS = ("fingerprint", "epoch", "model", "optimizer", "rng")


def _unfit(state: object, fingerprint: str) -> str | None:
    """Why a loaded checkpoint is not one save() wrote for this config; None when it is."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a checkpoint of this training loop"
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        return f"it lacks {', '.join(missing)}: not a checkpoint of this training loop"
    if state["fingerprint"] != fingerprint:
        return "it is a checkpoint of another config"
    rng = state["rng"]
    if not isinstance(state["epoch"], int) or state["epoch"] < 0:
        return f"its epoch is {state['epoch']!r}, not a count of epochs"
    if not isinstance(rng, dict) or not all(
        isinstance(rng.get(key), torch.Tensor) for key in ("torch", "order")
    ):
        return "its random number generators' states are not tensors"
    return None


def _set_rngs(
    cpu: torch.Tensor,
    on_device: torch.Tensor | None,
    data_order: torch.Tensor,
    order: torch.Generator,
    device: torch.device,
) -> None:
    torch.set_rng_state(cpu.cpu())
    if device.type == "cuda" and on_device is not None:
        torch.cuda.set_rng_state(on_device.cpu(), device)
    elif device.type == "mps" and on_device is not None:
        torch.mps.set_rng_state(on_device.cpu())
    order.set_state(data_order.cpu())


def _on_cpu(state: object) -> object:
    """A copy of a state dict with every tensor on the CPU (load_state_dict moves them back)."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {key: _on_cpu(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(_on_cpu(value) for value in state)
    return copy.deepcopy(state)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _set_aside(path: Path, why: str) -> int:
    """Keep an unusable checkpoint under a name no run reads (checkpoint.unusable.pt, -2, ...); epoch 0."""
    aside = path.with_name(f"{path.stem}.unusable{path.suffix}")
    count = 1
    while aside.exists():
        count += 1
        aside = path.with_name(f"{path.stem}.unusable-{count}{path.suffix}")
    path.rename(aside)
    log.warning("%s cannot be used (%s): kept as %s; training from epoch 0.", path.name, why, aside.name)
    return 0


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
