"""Data parallelism over the processes of one run (distributed.processes), as PyTorch does it.

With `distributed.processes` N > 1 the machinery starts a run as N processes with PyTorch's own
launcher (torch.distributed.run), which tells each its RANK, LOCAL_RANK and WORLD_SIZE; every
process is handed the same config. Each trains a copy of the model on its share of every batch,
and DistributedDataParallel averages the gradients, so the copies stay equal. A run of one
process is not launched: it joins no group, and trains exactly as if this module did not exist.

What N changes, so that a run of another N is another result (distributed.processes is part of
its identity): the batch stays `training.batch_size` images in all, split between the processes,
but which images each batch holds comes from DistributedSampler's order (a function of the seed
and the epoch) instead of the run's generator, and the gradients are averaged over processes.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


@dataclass(frozen=True)
class World:
    """This process's place among its run's: rank 0 of 1 for a run of one process."""

    rank: int = 0
    size: int = 1
    # Its index among the GPUs it sees, where each process has one.
    local_rank: int = 0
    # Started by PyTorch's launcher (RANK is set): it joins a process group, even one of one
    # process (how the GPU test of tests/test_training.py checks NCCL on a single GPU).
    launched: bool = False

    @property
    def leader(self) -> bool:
        """Rank 0, which writes the checkpoint (and whose metrics the machinery records)."""
        return self.rank == 0


def world(processes: int) -> World:
    """This process's place, as the launcher's environment gives it, checked against the config."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size != processes:
        raise RuntimeError(
            f"distributed.processes={processes}, but this is one of {size} processes: the machinery "
            "starts a run's processes itself (python -m study_machinery run, or a tier)."
        )
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    return World(rank, size, local_rank, launched="RANK" in os.environ)


def join(world: World, device: torch.device) -> None:
    """Join the run's other processes: gloo between CPUs, NCCL between GPUs (one per process).

    The group stays open after the run: the machinery reads its backend, then closes it.
    """
    if not world.launched:
        return
    if device.type == "mps":
        raise RuntimeError("distributed.processes > 1 needs CPUs (gloo) or CUDA GPUs (NCCL), not MPS.")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def seed_own_stream(seed: int, world: World) -> None:
    """Give each process other than rank 0 a dropout stream of its own, derived from the seed.

    After the model is built (its first weights are rank 0's on every process, which DDP
    checks): without it, every process would drop the same units of different images.
    """
    if world.rank > 0:
        torch.manual_seed(int(np.random.SeedSequence([seed, world.rank]).generate_state(1)[0]))


def local_batch(batch_size: int, world: World) -> int:
    """Each process's share of the batch: `training.batch_size` is the whole run's."""
    if batch_size % world.size:
        raise ValueError(
            f"training.batch_size={batch_size} is split between distributed.processes={world.size}: "
            "make it a multiple of the processes."
        )
    return batch_size // world.size


def sampler(dataset: Dataset, world: World, seed: int) -> DistributedSampler | None:
    """Which images each process trains on: a share of a shuffle that set_epoch makes anew each epoch.

    None for a process that was not launched (one process), whose DataLoader shuffles with the
    run's generator. The last share is completed with images from the start of the shuffle, so
    each process takes as many steps as the others.
    """
    if not world.launched:
        return None
    return DistributedSampler(dataset, num_replicas=world.size, rank=world.rank, shuffle=True, seed=seed)


def gather(value: object, world: World) -> list:
    """Every process's `value`, in rank order (each process takes part)."""
    if world.size == 1:
        return [value]
    every: list = [None] * world.size
    dist.all_gather_object(every, value)
    return every


def from_leader(value: object, world: World) -> object:
    """Rank 0's `value`, on every process (each process takes part)."""
    if world.size == 1:
        return value
    shared = [value]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]
