"""Batches for a plan of indices, from device-resident tensors or from files.

:class:`DeviceLoader` is the fast path (the airbench design): the whole split lives on the training
device and a batch is ``x[idx], y[idx]`` for a slice of the epoch plan, so there are no workers, no
pinned-memory copies and no host-device synchronisation. :class:`StreamingLoader` is the path for inputs
too big for memory (:class:`~swiftsampler.data.lazy.LazyInputs`, e.g. image folders): a standard
``torch.utils.data.DataLoader`` with worker processes decodes the plan's batches, through the same
drop-in pieces a user's own loop uses (:class:`~swiftsampler.data.indexed.IndexedDataset` and a batch
sampler). Either way, indices travel with the batch, which is what every sampler needs to attribute
losses to samples, and labels come from memory (they may carry injected noise).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torch.utils.data import Sampler as TorchSampler

from ..errors import DataError
from .indexed import IndexedDataset
from .lazy import LazyInputs


class Batch(NamedTuple):
    """One training batch. indices (B,) int64, inputs (B, ...), targets (B,), weights (B,) or None."""

    indices: Tensor
    inputs: Tensor
    targets: Tensor
    weights: Tensor | None = None


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of ``batch_size`` covering ``range(n)``; a lone leftover sample joins the
    last batch (a batch of one breaks batch norm), every other remainder is its own smaller batch."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [slice(s, e) for s, e in zip(starts, [*starts[1:], n])]


class DeviceLoader:
    """Yields :class:`Batch` es of ``inputs[idx], targets[idx]`` for a plan of indices.

    Args:
        inputs: (N, ...) tensor on the training device.
        targets: (N,) int64 labels on the same device.
    """

    def __init__(self, inputs: Tensor, targets: Tensor) -> None:
        if inputs.shape[0] != targets.shape[0]:
            raise ValueError("inputs and targets must have the same length")
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def batches(self, indices: Tensor, batch_size: int,
                weights: Tensor | None = None) -> Iterator[Batch]:
        """Iterate over ``indices`` (moved to the data's device) ``batch_size`` at a time."""
        indices = indices.to(self.inputs.device, non_blocking=True)
        if weights is not None:
            weights = weights.to(self.inputs.device, non_blocking=True)
        for sl in batch_slices(indices.shape[0], batch_size):
            idx = indices[sl]
            yield Batch(idx, self.inputs[idx], self.targets[idx],
                        None if weights is None else weights[sl])


class _Decoded(Dataset):
    """``dataset[i]`` = input ``i`` decoded (runs in the DataLoader's worker processes)."""

    def __init__(self, inputs: LazyInputs) -> None:
        self.inputs = inputs

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> Tensor:
        return self.inputs.load(i)


class _PlanBatches(TorchSampler[list[int]]):
    """A batch sampler replaying the batches it was last given (one epoch plan at a time)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class StreamingLoader:
    """Yields :class:`Batch` es for a plan of indices, decoding inputs from files in workers.

    Args:
        inputs: the lazy inputs (N of them).
        targets: (N,) int64 labels, already on ``device``.
        device: where batches are delivered.
        workers: DataLoader worker processes (0: decode in this process).
        persistent: keep the workers alive between calls of :meth:`batches` (every split of a run:
            the training plan changes each epoch, validation runs each epoch).
    """

    def __init__(self, inputs: LazyInputs, targets: Tensor, device: torch.device, *,
                 workers: int = 0, persistent: bool = False) -> None:
        if len(inputs) != targets.shape[0]:
            raise ValueError("inputs and targets must have the same length")
        self.inputs, self.targets, self.device = inputs, targets, device
        self._plan = _PlanBatches()
        self._loader = DataLoader(IndexedDataset(_Decoded(inputs)), batch_sampler=self._plan,
                                  num_workers=workers, pin_memory=device.type == "cuda",
                                  persistent_workers=persistent and workers > 0,
                                  # its own generator: iterating never draws from the global RNG
                                  generator=torch.Generator().manual_seed(0),
                                  multiprocessing_context=_worker_context() if workers else None)

    def __len__(self) -> int:
        return len(self.inputs)

    def batches(self, indices: Tensor, batch_size: int,
                weights: Tensor | None = None) -> Iterator[Batch]:
        """Iterate over ``indices`` ``batch_size`` at a time (one host copy of the plan per call)."""
        plan = indices.detach().to("cpu", torch.int64)
        slices = batch_slices(plan.shape[0], batch_size)
        self._plan.batches = [plan[sl].tolist() for sl in slices]
        if weights is not None:
            weights = weights.to(self.device, non_blocking=True)
        try:
            for sl, (idx, x) in zip(slices, self._loader):
                idx = idx.to(self.device, non_blocking=True)
                yield Batch(idx, x.to(self.device, non_blocking=True), self.targets[idx],
                            None if weights is None else weights[sl])
        except DataError as err:  # re-raised from a worker with its traceback: keep the message
            raise DataError(_worker_message(err)) from None


def _worker_context() -> str | None:
    """``fork`` on Linux (PyTorch's own default there), whatever start method the current process
    inherited: a process that was itself spawned (e.g. a ``compare --jobs`` worker) would otherwise
    spawn its loader workers too, and each would import torch again (seconds per worker). Elsewhere
    the platform's default."""
    return "fork" if sys.platform.startswith("linux") else None


def _worker_message(err: Exception) -> str:
    """The original one-line message of an exception re-raised from a DataLoader worker."""
    last = str(err).strip().splitlines()[-1]
    prefix = f"{type(err).__module__}.{type(err).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last


def make_loader(inputs: Tensor | LazyInputs, targets: Tensor, device: torch.device, *,
                workers: int = 0, persistent: bool = False) -> DeviceLoader | StreamingLoader:
    """A :class:`DeviceLoader` for tensors, a :class:`StreamingLoader` for lazy inputs."""
    if isinstance(inputs, LazyInputs):
        return StreamingLoader(inputs, targets, device, workers=workers, persistent=persistent)
    return DeviceLoader(inputs, targets)
