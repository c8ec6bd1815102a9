"""Ties-aware ranks in one sort: what the rank- and mass-based samplers share.

For ``values`` (N,), sorted ascending once, tied values form runs. :func:`tie_runs` gives, for every
position of the sorted order, where its run starts and ends (two scans over the sorted values, no
per-group tables), so any per-run quantity (a mid-rank, a cumulative mass) is computed at every
sorted position in O(N) and scattered back to the samples once: no per-sample binary search
(``searchsorted`` of N queries costs far more than the sort on a CPU).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["PACKED_SORT_MIN", "TieRuns", "descending_mid_ranks", "mid_cumulative", "sort_values",
           "tie_runs"]


class TieRuns(NamedTuple):
    """``order`` sorts the values ascending; the value at sorted position ``k`` belongs to the run of
    equal values at sorted positions ``starts[k] .. ends[k]`` (inclusive)."""

    order: Tensor
    starts: Tensor
    ends: Tensor


#: Below this many values :func:`sort_values` leaves the sort to ``torch.sort``.
PACKED_SORT_MIN = 1 << 16


def sort_values(values: Tensor) -> tuple[Tensor, Tensor]:
    """``values`` (N,) ascending and the order that sorts them, as ``torch.sort`` gives them (the
    order of tied values aside; ``-0.0`` comes back as ``0.0``). NaN must be removed first.

    On a CPU, values that are all float32 numbers (the statistics are kept in float32) are sorted as
    one int64 key each: the float's order-preserving 32-bit pattern above the value's index, sorted
    by NumPy's vectorised integer sort, several times faster than an argsort of floats (10^7 values:
    ``bench/scale.py``). Elsewhere ``torch.sort``.
    """
    n = values.numel()
    if values.device.type != "cpu" or not PACKED_SORT_MIN <= n < 1 << 31 or values.requires_grad:
        return torch.sort(values)
    single = values.to(torch.float32)
    if not torch.equal(single.to(values.dtype), values):  # -0.0 == 0.0 here, as in the sort
        return torch.sort(values)
    keys = _ordered_bits(single.add_(0.0).view(torch.int32))  # + 0.0: -0.0 is 0.0
    packed = (keys.to(torch.int64) << 32) | torch.arange(n, dtype=torch.int64)
    packed = torch.from_numpy(np.sort(packed.numpy()))
    ordered = _ordered_bits((packed >> 32).to(torch.int32)).view(torch.float32)
    return ordered.to(values.dtype), packed & 0xFFFFFFFF


def _ordered_bits(bits: Tensor) -> Tensor:
    """A float32's bit pattern (int32) to an int32 that orders as the float, and back (its own
    inverse): a negative float's magnitude bits are reversed."""
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


def tie_runs(values: Tensor) -> TieRuns:
    """The runs of equal values of ``values`` (N,) in ascending order (NaN must be removed first)."""
    ordered, order = sort_values(values)
    n = ordered.numel()
    positions = torch.arange(n, device=values.device)
    first = torch.ones(n, dtype=torch.bool, device=values.device)  # a run starts here
    first[1:] = ordered[1:] != ordered[:-1]
    last = torch.ones_like(first)  # a run ends here
    last[:-1] = first[1:]
    starts = torch.where(first, positions, 0).cummax(0).values
    ends = torch.where(last, positions, n).flip(0).cummin(0).values.flip(0)
    return TieRuns(order, starts, ends)


def _scatter(runs: TieRuns, per_position: Tensor) -> Tensor:
    """Values at the sorted positions back in the samples' order."""
    out = torch.empty_like(per_position)
    out[runs.order] = per_position
    return out


def descending_mid_ranks(values: Tensor) -> Tensor:
    """0-based ranks from the largest value, tied values sharing the mean of their ranks::

        rank_i = #{j: v_j > v_i} + (#{j: v_j == v_i} - 1) / 2

    so four equal values all get rank 1.5 and the order of the dataset never breaks a tie. (N,) float64
    """
    runs = tie_runs(values)
    n = values.numel()
    # a run at ascending positions [s, e] has n - 1 - e larger values and e - s ties besides itself
    rank = (n - 1 - runs.ends).to(torch.float64) + 0.5 * (runs.ends - runs.starts).to(torch.float64)
    return _scatter(runs, rank)


def mid_cumulative(values: Tensor, mass: Tensor | None = None) -> Tensor:
    """``(sum_{v_j < v_i} m_j + 0.5 sum_{v_j == v_i} m_j) / sum_j m_j`` for every sample: the mass below
    it plus half the mass of its ties, as a fraction of the whole (float64; the total must be > 0).
    ``mass=None`` is a mass of 1 each (the mid-rank empirical CDF), without a cumulative sum."""
    runs = tie_runs(values)
    if mass is None:
        below = runs.starts.to(torch.float64)
        through = runs.ends.to(torch.float64) + 1
        total = float(values.numel())
    else:
        prefix = torch.zeros(values.numel() + 1, dtype=torch.float64, device=values.device)
        prefix[1:] = torch.cumsum(mass.to(torch.float64)[runs.order], dim=0)
        below, through, total = prefix[runs.starts], prefix[runs.ends + 1], prefix[-1]
    return _scatter(runs, ((below + through) * 0.5 / total).clamp_(0.0, 1.0))
