"""Checkpoints: written whole or not at all, loaded as weights only, resumed only by their own config.

A checkpoint holds the model's and the optimiser's state, the epoch, and the states of the
RNGs the run draws from (PyTorch's, its GPU's, its data-order generator's): a resumed run draws
what the uninterrupted one would have drawn. In a run of several processes (distributed.py),
rank 0 writes it, with every process's RNG states, and each process resumes its own.
"""

import copy
import logging
import os
from pathlib import Path

import torch
from torch import nn

from .distributed import World, from_leader, gather

log = logging.getLogger(__name__)


def save(
    path: Path,
    fingerprint: str,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    order: torch.Generator,
    device: torch.device,
    world: World,
) -> None:
    """Write the checkpoint whole or not at all: to a temporary name, then renamed over the last one.

    Every process calls it; rank 0 writes, with each process's RNG states.
    """
    # Dropout draws from the RNG of the device it runs on, the data order from `order`.
    rngs = {"torch": torch.get_rng_state(), "device": _device_rng(device), "order": order.get_state()}
    every = gather(rngs, world)
    if not world.leader:
        return
    state = {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rngs,
        # Each process's, by rank, in a run of several (rank 0's is `rng` too).
        **({"ranks": every} if world.size > 1 else {}),
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
    world: World,
) -> int:
    """Every process resumes from the checkpoint rank 0 finds usable (or none): the epoch to start from.

    Rank 0 alone judges it and sets it aside (_resume); the others then load what it accepted,
    each with its own RNG states.
    """
    judged = _resume(path, fingerprint, model, optimizer, order, device) if world.leader else 0
    first = from_leader(judged, world)
    if world.leader or first == 0:
        return first
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    own = state["ranks"][world.rank]
    _set_rngs(own["torch"], own["device"], own["order"], order, device)
    return first


def _resume(
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
