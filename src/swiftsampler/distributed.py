"""Data-parallel training on existing engines: ``torch.distributed`` under ``torchrun``.

``torchrun --nproc_per_node N -m swiftsampler train ...`` (or ``swiftsampler train --nproc N``, which
starts ``torchrun`` itself) runs one process per rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
the rendezvous address in its environment. :func:`context_from_environment` joins the process group
(``gloo`` on the CPU, ``nccl`` on CUDA) and gives a :class:`DistributedContext`; one process without
those variables is the world of one, and nothing below costs anything then.

The collectives the sampling core and the engine need are here, each with the one rule it follows:
sums are :func:`all_reduce_sum` (the same bits on every rank), a host value every rank must agree on is
reduced the same way, and only rank 0 writes files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import ConfigError

__all__ = ["DistributedContext", "SINGLE", "all_reduce_sum", "context_from_environment", "launch"]


@dataclass(frozen=True)
class DistributedContext:
    """Which rank this process is, of how many, and on which device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes results, checkpoints and logs."""
        return self.rank == 0

    def shard(self, items: torch.Tensor) -> torch.Tensor:
        """This rank's share of ``items``: contiguous, equal-sized shares (the last items that do not
        divide evenly among the ranks are left out, so every rank takes the same number of steps)."""
        if not self.active:
            return items
        each = items.shape[0] // self.world_size
        return items[self.rank * each:(self.rank + 1) * each]


SINGLE = DistributedContext()


def context_from_environment(device: torch.device) -> DistributedContext:
    """The context of this process: a rank of a ``torchrun`` job (joining its process group on first
    use: gloo for the CPU, nccl for CUDA), or :data:`SINGLE` without ``WORLD_SIZE > 1``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def all_reduce_sum(tensor: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """``tensor`` summed over the ranks, in place (unchanged for a world of one)."""
    if context.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``swiftsampler <argv>`` under ``torchrun --nproc_per_node nproc`` on this machine and
    return its exit status (``--standalone``: a rendezvous on a free local port)."""
    if not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"--nproc: must be a positive integer, got {nproc!r}")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "-m", "swiftsampler", *argv]
    return subprocess.call(command)
