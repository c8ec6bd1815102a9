"""The selection queue: samples a batch-then-sample method kept, waiting to fill a training batch.

Selective backprop keeps a varying number of each candidate batch; the kept samples queue up here
and leave in full batches, so every optimiser step sees ``batch_size`` samples (Jiang et al. 2019).
Inputs may be a tensor or a dict, list or tuple of tensors (a user's batch), all sliced along their
first dimension.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..data.loader import Batch

__all__ = ["SelectionQueue", "concat", "map_tensors", "take"]


def map_tensors(fn: Callable[[Tensor], Tensor], tree: Any) -> Any:
    """``fn`` applied to a tensor, or to every tensor of a dict, list or tuple (a user's batch)."""
    if isinstance(tree, Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {key: map_tensors(fn, value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_tensors(fn, value) for value in tree)
    raise TypeError(f"batch inputs must be tensors or dicts/lists/tuples of tensors, got "
                    f"{type(tree).__name__}")


def take(tree: Any, positions: Tensor | slice) -> Any:
    """``tree[positions]`` for a tensor, or for every tensor of a dict, list or tuple."""
    return map_tensors(lambda tensor: tensor[positions], tree)


def concat(trees: list[Any]) -> Any:
    """The trees of ``trees`` (same structure) concatenated along their first dimension."""
    first = trees[0]
    if isinstance(first, Tensor):
        return torch.cat(trees)
    if isinstance(first, dict):
        return {key: concat([t[key] for t in trees]) for key in first}
    return type(first)(concat([t[i] for t in trees]) for i in range(len(first)))


class SelectionQueue:
    """Kept samples, in arrival order, popped ``n`` at a time as one :class:`Batch`."""

    def __init__(self) -> None:
        self._parts: list[Batch] = []

    def __len__(self) -> int:
        return sum(part.indices.shape[0] for part in self._parts)

    def clear(self) -> None:
        self._parts = []

    def push(self, batch: Batch) -> None:
        if batch.indices.shape[0] > 0:
            self._parts.append(batch)

    def pop(self, n: int) -> Batch:
        """The first ``n`` queued samples; weights of ones for parts that had none, when some had."""
        parts = self._parts
        weights = None
        if any(p.weights is not None for p in parts):
            weights = torch.cat([torch.ones(p.indices.shape[0], device=p.indices.device)
                                 if p.weights is None else p.weights for p in parts])
        whole = Batch(torch.cat([p.indices for p in parts]), concat([p.inputs for p in parts]),
                      torch.cat([p.targets for p in parts]), weights)
        head = Batch(whole.indices[:n], take(whole.inputs, slice(0, n)), whole.targets[:n],
                     None if weights is None else weights[:n])
        rest = Batch(whole.indices[n:], take(whole.inputs, slice(n, None)), whole.targets[n:],
                     None if weights is None else weights[n:])
        self._parts = [rest] if rest.indices.shape[0] else []
        return head
