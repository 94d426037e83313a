"""One run on several processes: torchrun's environment, the process group and DistributedDataParallel.

Under ``torchrun --nproc-per-node N -m normact train CONFIG`` (or any launcher that sets ``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK`` and the rendezvous variables) ``train`` joins the process group (NCCL on CUDA,
gloo on the CPU), wraps the model in ``DistributedDataParallel`` and gives each rank every
``WORLD_SIZE``-th sample of each global batch (``data.batch_size`` is the global batch). Only rank 0
writes the results store, the checkpoints and the progress display.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "World",
    "check_batch",
    "gather_objects",
    "join",
    "local_device",
    "reduce_sum",
    "world_from_env",
    "wrap_model",
]

# how long a collective waits for the other ranks; a rank that dies ends the job through torchrun first
TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class World:
    """This process's place among the processes training one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Whether this process writes the store, the checkpoints and the progress (rank 0)."""
        return self.rank == 0


def world_from_env() -> World:
    """The ``World`` that torchrun's environment variables describe (one process without them)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def check_batch(world: World, batch_size: int) -> None:
    """Refuse a global batch that the world size does not divide."""
    if batch_size % world.size:
        raise ValueError(
            f"data.batch_size={batch_size} is the global batch and must be divisible by the world size "
            f"{world.size} (torchrun --nproc-per-node times nodes); use a multiple of {world.size}"
        )


def local_device(world: World, device: torch.device) -> torch.device:
    """This rank's CUDA device (``cuda:LOCAL_RANK``) when the run is on CUDA, else ``device``."""
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    return device


def join(world: World, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo otherwise) unless this process is in one already.

    The group stays for the process's lifetime, so several runs in one torchrun job share it (joining
    torchrun's rendezvous a second time would wait for ever); it is destroyed when the process exits
    (a gloo group left to the interpreter's teardown can abort the process).
    """
    if world.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        atexit.register(_destroy)


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(world: World, model: nn.Module, device: torch.device, sync_bn: bool) -> nn.Module:
    """``DistributedDataParallel(model)`` (BatchNorm made SyncBatchNorm with ``sync_bn``), or ``model``.

    ``sync_bn`` converts in place, so the returned wrapper and ``model`` share the converted layers.
    """
    if not world.distributed:
        return model
    if sync_bn:
        for name, child in list(model.named_children()):
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def reduce_sum(world: World, t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over the ranks (in place), or ``t`` itself on one process."""
    if world.distributed:
        dist.all_reduce(t)
    return t


def gather_objects(world: World, obj: object) -> list[object]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` on one process."""
    if not world.distributed:
        return [obj]
    out: list[object] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out
