"""Training in plain PyTorch: seeded, deterministic, and resumable from its last checkpoint.

Same seed, same machine, same metrics, bit for bit: every RNG is seeded from the config,
PyTorch is told to use deterministic algorithms only, and the data order comes from a
generator of the run's own. A checkpoint (checkpoints.py) holds that generator's state and
PyTorch's, so a resumed run draws what the uninterrupted one would have drawn. A run of
several processes (distributed.py) is as reproducible for the same number of processes.
Another GPU model, or the CPU instead of a GPU, rounds differently: there the metrics agree
only within the tolerance of conf/study.yaml.
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
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from .checkpoints import resume, save
from .config import Config, Device
from .distributed import World, local_batch, sampler, seed_own_stream

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


def choose_device(wanted: Device, world: World) -> torch.device:
    """The device the config asks for; auto takes a CUDA GPU when there is one, else the CPU.

    On CUDA, each process of a run of several takes the GPU of its local rank.

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
    if wanted is Device.cuda:
        return torch.device("cuda", world.local_rank)
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
    world: World,
    after_epoch: Callable[[int], None] | None = None,
) -> None:
    """Mini-batch Adam on the cross-entropy for `config.training.epochs`, resuming from `checkpoint`.

    `after_epoch(epoch)` is called at the end of each epoch, before its checkpoint: a run stopped
    in between resumes from an earlier checkpoint and reports that epoch again. With several
    processes (`world`), each trains on its share of every batch, and their gradients are averaged.
    """
    settings = config.training
    order = torch.Generator().manual_seed(config.seed)
    data = TensorDataset(
        torch.as_tensor(images, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.long)
    )
    shares = sampler(data, world, config.seed)
    loader = DataLoader(
        data,
        batch_size=local_batch(settings.batch_size, world),
        shuffle=shares is None,
        sampler=shares,
        # With a sampler too: the workers' seeds are drawn from it.
        generator=order,
        num_workers=settings.num_workers,
        worker_init_fn=_seed_worker,
    )
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    # The whole config: a checkpoint of another config (the same folder, other overrides, another
    # number of processes) is not resumed.
    fingerprint = json.dumps(asdict(config), sort_keys=True, default=str)
    first = resume(checkpoint, fingerprint, model, optimizer, order, device, world)
    if first == 0:  # a resumed process has its own stream back from the checkpoint
        seed_own_stream(config.seed, world)
    # The model the processes train together; `model` itself is what is saved and evaluated.
    trained = DistributedDataParallel(model) if world.launched else model
    for epoch in range(first, settings.epochs):
        if shares is not None:
            shares.set_epoch(epoch)
        trained.train()
        total, seen = 0.0, 0
        for batch, targets in loader:
            batch, targets = batch.to(device), targets.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(trained(batch), targets)
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(targets), seen + len(targets)
        done = epoch + 1
        log.info("epoch %d/%d: training loss %.4f", done, settings.epochs, total / seen)
        if after_epoch is not None:
            after_epoch(done)
        if done % settings.checkpoint_every == 0 or done == settings.epochs:
            save(checkpoint, fingerprint, done, model, optimizer, order, device, world)


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
