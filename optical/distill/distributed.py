"""Distributed context from ``torchrun`` (or SLURM/MPI variables): one process per device, gradients averaged.

``world_info_from_env`` reads rank and world size; ``init_distributed`` starts the process group (NCCL on CUDA,
gloo on CPU) and picks the device; ``process_group`` does so for a block and destroys the group at its end (also
on an exception, so no other rank is left waiting at a collective); ``is_main_process`` guards logging,
checkpoints and evaluation; ``broadcast_object`` hands rank 0's decisions (early stopping) to every rank.

Several machines: rank 0 alone writes the run folder (checkpoints, the best epoch's weights) and every rank reads
it back, so all machines must see the run folder on a shared file system (the same ``OPTICAL_CACHE``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from optical.config import cuda_index
from optical.errors import InputError


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world_info_from_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's, SLURM's or Open MPI's variables; (0, 1, 0) when alone."""
    for rank_var, size_var, local_var in (
        ("RANK", "WORLD_SIZE", "LOCAL_RANK"),
        ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ):
        if size_var in os.environ:
            return int(os.environ[rank_var]), int(os.environ[size_var]), int(os.environ.get(local_var, 0))
    return 0, 1, 0


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` picks ``cuda:<local_rank>`` when CUDA is present, else the CPU; ``cpu``, ``cuda`` (this process's
    GPU) and ``cuda:N`` are the others. One that is unknown or absent here raises InputError saying what is."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    index = cuda_index(name)  # InputError for a name that is no device (the CLI checks it before importing torch)
    if index is None:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError(f"--device {name} asked for, but torch sees no CUDA device here (use --device cpu or auto)")
    index = local_rank if index < 0 else index
    if index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise InputError(f"--device {name}: torch sees {count} CUDA device(s) here, cuda:0 to cuda:{count - 1}")
    return torch.device(f"cuda:{index}")


def init_distributed(device: str = "auto") -> DistInfo:
    """Start the process group when launched by torchrun (idempotent) and return this process's DistInfo."""
    rank, world_size, local_rank = world_info_from_env()
    dev = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, dev)


@contextlib.contextmanager
def process_group(device: str = "auto") -> Iterator[DistInfo]:
    """``init_distributed(device)`` for the block; the process group it started is destroyed when the block ends,
    normally or by an exception (the other ranks' pending collectives then fail instead of waiting forever)."""
    started = not dist.is_initialized()
    info = init_distributed(device)
    try:
        yield info
    finally:
        if started and dist.is_initialized():
            dist.destroy_process_group()


def is_main_process(info: DistInfo) -> bool:
    return info.rank == 0


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """All-reduce the gradients of ``params`` and divide by the world size (data-parallel SGD)."""
    if not info.distributed:
        return
    for p in params:  # every rank must reduce the same tensors in the same order
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_over_processes(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of ``tensor`` (detached) over the processes, on every rank (a collective: every rank must call it);
    ``tensor`` detached in a single process. The scale-free ``optical+mse`` divides each term by it, the value of
    the whole global batch."""
    if not info.distributed:
        return tensor.detach()
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total / info.world_size


T = TypeVar("T")


def broadcast_object(obj: T, info: DistInfo, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` (any picklable value) on every rank; ``obj`` itself in a single process."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=info.device if info.device.type == "cuda" else None)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is True on any (a collective: every rank must call it); ``flag`` alone in a
    single process. Lets all ranks stop together when one of them sees a problem (a non-finite loss)."""
    if not info.distributed:
        return flag
    count = torch.tensor([float(flag)], device=info.device)
    dist.all_reduce(count)
    return bool(count.item() > 0)
