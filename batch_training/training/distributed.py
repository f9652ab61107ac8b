"""Training in several processes with PyTorch's own ``torch.distributed`` (launched by ``torchrun``):
which process this is, the process group, and the few collective steps the training loop needs.

``World()`` is one process (the default everywhere): nothing here is then called. Under ``torchrun``
``World.from_env()`` reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; ``start`` opens the group with
gloo on CPU and nccl on GPU. The loop (``trainer.train``) wraps the model in
``DistributedDataParallel``, gives each rank its shard of every epoch's seeded permutation (the same
permutation on every rank, cut to a multiple of the world size so every rank takes the same number
of steps), sums the training loss over the ranks, and lets rank 0 alone validate and decide early
stopping, broadcast to the others.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.size < 1 or not 0 <= self.rank < self.size:
            raise ValueError(f"rank {self.rank} of a world of {self.size}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "World":
        """The process's place under ``torchrun`` (one process when the variables are absent)."""
        env = dict(os.environ if env is None else env)
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def device(self, device: str) -> str:
        """This rank's device: its own GPU (``cuda:<local rank>``) when training on CUDA."""
        return f"cuda:{self.local_rank}" if device.startswith("cuda") and self.distributed else device

    def start(self, device: str, timeout_s: float = 600.0) -> None:
        """Open the process group (the environment's rendezvous, as torchrun sets it)."""
        if not self.distributed or dist.is_initialized():
            return
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group(backend, rank=self.rank, world_size=self.size,
                                timeout=dt.timedelta(seconds=timeout_s))

    def stop(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def parallel(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The model that steps take: DistributedDataParallel on this rank's device (gradients averaged
        over the ranks), or the model itself in one process."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    # -- collectives the loop needs ------------------------------------------------------------
    def sum(self, value: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def from_main(self, value: torch.Tensor) -> torch.Tensor:
        """Rank 0's value on every rank."""
        if self.distributed:
            dist.broadcast(value, src=0)
        return value

    def shard(self, permutation: torch.Tensor) -> torch.Tensor:
        """This rank's rows of an epoch's permutation: every ``size``-th, from ``rank``, of its first
        ``size * (n // size)`` entries (the remainder, under ``size`` rows, sits this epoch out)."""
        if not self.distributed:
            return permutation
        usable = len(permutation) // self.size * self.size
        return permutation[:usable][self.rank::self.size]

    def batch_size(self, global_batch: int) -> int:
        """Rows per step on each rank, so that a step sees about ``global_batch`` rows in all."""
        return max(1, global_batch // self.size)
