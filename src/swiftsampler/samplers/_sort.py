"""Sorting large CPU tensors fast: one int64 key per value, sorted by NumPy's vectorised integer sort.

On a CPU, NumPy's integer sort is faster than ``torch.sort`` of floats with their indices
(``bench/scale.py`` times the planners that use it). A key packs a 32-bit sort key above the value's
32-bit index, so the sorted keys carry the order with them and equal keys come out in index order.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["PACKED_SORT_MIN", "packed_argsort", "packs", "sort_values"]

#: Below this many values the sorts here leave the work to ``torch.sort``.
PACKED_SORT_MIN = 1 << 16


def packs(values: Tensor) -> bool:
    """Whether :func:`packed_argsort` applies: a CPU tensor without autograd, of a size that pays and
    whose indices fit in 31 bits."""
    return (values.device.type == "cpu" and not values.requires_grad
            and PACKED_SORT_MIN <= values.numel() < 1 << 31)


def packed_argsort(keys: Tensor) -> tuple[Tensor, Tensor]:
    """``keys`` (N,) int32 ascending and the order that sorts them (ties in index order), on a CPU."""
    n = keys.numel()
    packed = (keys.to(torch.int64) << 32) | torch.arange(n, dtype=torch.int64)
    packed = torch.from_numpy(np.sort(packed.numpy()))
    return (packed >> 32).to(torch.int32), packed & 0xFFFFFFFF


def sort_values(values: Tensor) -> tuple[Tensor, Tensor]:
    """``values`` (N,) ascending and the order that sorts them, as ``torch.sort`` gives them (the
    order of tied values aside; ``-0.0`` comes back as ``0.0``). NaN must be removed first.

    Values that are all float32 numbers (the statistics are kept in float32) are sorted by their
    order-preserving 32-bit patterns with :func:`packed_argsort`; others by ``torch.sort``.
    """
    if not packs(values):
        return torch.sort(values)
    single = values.to(torch.float32, copy=True)  # a copy: the caller's values stay as they are
    if not torch.equal(single.to(values.dtype), values):  # -0.0 == 0.0 here, as in the sort
        return torch.sort(values)
    keys, order = packed_argsort(_ordered_bits(single.add_(0.0).view(torch.int32)))  # + 0.0: no -0.0
    return _ordered_bits(keys).view(torch.float32).to(values.dtype), order


def _ordered_bits(bits: Tensor) -> Tensor:
    """A float32's bit pattern (int32) to an int32 that orders as the float, and back (its own
    inverse): a negative float's magnitude bits are reversed."""
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)
