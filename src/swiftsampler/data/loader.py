"""Batches from device-resident tensors: slicing, not collation (the airbench design).

The whole training split lives on the training device; a batch is ``x[idx], y[idx]`` for a slice of the
epoch plan, so there are no workers, no pinned-memory copies and no host-device synchronisation. Indices
always travel with the batch, which is what every sampler needs to attribute losses to samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from torch import Tensor


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
