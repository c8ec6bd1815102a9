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

import logging
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import ConfigError

__all__ = ["DistributedContext", "SINGLE", "all_gather_rows", "all_gather_taken", "all_reduce_sum",
           "broadcast_buffers", "context_from_environment", "current_context", "gather_states",
           "is_main_process", "launch", "leave"]


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
        """This rank's share of ``items``, strided: rank ``r`` of ``W`` takes ``items[r::W]`` of the
        first ``W * (L // W)`` items (the last ``L mod W`` are left out, so every rank takes the same
        number of steps). Its ``j``-th item is ``items[j * W + r]``: step ``t`` of all ranks together,
        with ``b`` items each, trains ``items[t W b : (t + 1) W b]``, the single-process plan's step
        with a batch of ``W b`` (what :func:`all_gather_rows` puts back in order)."""
        if not self.active:
            return items
        each = items.shape[0] // self.world_size
        return items[self.rank:each * self.world_size:self.world_size]


SINGLE = DistributedContext()


def current_context() -> DistributedContext:
    """The context of a process group the caller has already joined (its rank and size;
    ``LOCAL_RANK`` from the environment), or :data:`SINGLE` without one."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return SINGLE
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                              local_rank=int(os.environ.get("LOCAL_RANK", "0")))


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


def all_gather_rows(rows: torch.Tensor, context: DistributedContext,
                    total: int | None = None) -> torch.Tensor:
    """Every rank's ``rows`` (L, F), interleaved in the order of :meth:`DistributedContext.shard`:
    row ``j * W + r`` of the result is row ``j`` of rank ``r``. One collective.

    Ranks pass the same number of rows, or, with ``total`` (the number of rows of all ranks
    together, known to every rank), rank ``r`` passes the ``ceil((total - r) / W)`` rows of
    ``items[r::W]``; the short ranks are padded for the collective and the padding dropped, so the
    result has ``total`` rows in the original order. Unchanged for a world of one."""
    if not context.active:
        return rows
    world = context.world_size
    longest = rows.shape[0] if total is None else -(-total // world)
    padded = rows
    if rows.shape[0] < longest:
        padded = torch.cat([rows, rows.new_zeros(longest - rows.shape[0], *rows.shape[1:])])
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    gathered = torch.stack(parts, dim=1).flatten(0, 1)  # (longest * W, F): j * W + r
    return gathered if total is None else gathered[:total]


def all_gather_taken(local: torch.Tensor, positions: torch.Tensor,
                     context: DistributedContext) -> torch.Tensor:
    """``whole[positions]`` on every rank, where ``whole`` is the interleave of every rank's
    ``local`` (row ``j * W + r`` of ``whole`` is row ``j`` of rank ``r``, as in
    :func:`all_gather_rows`) and every rank passes the same ``positions`` (k,) (may repeat).

    Only the rows taken travel: rank ``r`` sends its rows at ``positions // W`` of the positions
    ``r`` owns (``positions % W == r``), padded to the largest such count, in one collective; the
    result is put back in the order of ``positions``. ``local[positions]`` for a world of one."""
    if not context.active:
        return local[positions.to(local.device)]
    world = context.world_size
    positions = positions.to(local.device)
    owner, row = positions % world, positions // world
    counts = torch.bincount(owner, minlength=world)
    if positions.numel() == 0:  # every rank knows: no collective
        return local[:0]
    longest = int(counts.max())  # sync: the collective's size
    sent = local[row[owner == context.rank]]
    if sent.shape[0] < longest:
        sent = torch.cat([sent, sent.new_zeros(longest - sent.shape[0], *sent.shape[1:])])
    parts = [torch.empty_like(sent) for _ in range(world)]
    dist.all_gather(parts, sent.contiguous())
    # entry i of positions is the ordinal-th of its owner's rows, in the order of positions
    order = torch.argsort(owner, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    ordinal = torch.empty_like(positions)
    ordinal[order] = torch.arange(positions.numel(), device=positions.device) - starts[owner[order]]
    return torch.stack(parts)[owner, ordinal]


def broadcast_buffers(module: torch.nn.Module, context: DistributedContext) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank, in place."""
    if context.active:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def gather_states(state: torch.Tensor, context: DistributedContext) -> list[torch.Tensor]:
    """Every rank's ``state`` (a CPU byte tensor of the same size on every rank, e.g. a
    generator's state), in rank order; ``[state]`` for a world of one. One collective."""
    if not context.active:
        return [state]
    device = torch.device("cuda", context.local_rank) if dist.get_backend() == "nccl" else "cpu"
    parts = [torch.empty_like(state, device=device) for _ in range(context.world_size)]
    dist.all_gather(parts, state.to(device))
    return [part.cpu() for part in parts]


def is_main_process() -> bool:
    """Whether this process is rank 0 of its ``torchrun`` job (or not under ``torchrun``), read
    from the environment without joining the process group: the one that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def leave(context: DistributedContext) -> None:
    """Leave the process group that :func:`context_from_environment` joined (end of a run)."""
    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``swiftsampler <argv>`` in ``nproc`` processes on this machine, as
    ``torchrun --standalone --nproc_per_node nproc`` does (a rendezvous on a free local port, no
    restarts), and return the exit status of the first rank that failed, else 0. The launcher's own
    failure report and log lines are kept quiet: each rank says what went wrong itself."""
    if not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"--nproc: must be a positive integer, got {nproc!r}")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    agent_log = logging.getLogger("torch.distributed.elastic")
    level = agent_log.level
    agent_log.setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, sys.executable)("-m", "swiftsampler", *argv)
    except ChildFailedError as exc:
        return int(exc.get_first_failure()[1].exitcode)
    finally:
        agent_log.setLevel(level)
    return 0
