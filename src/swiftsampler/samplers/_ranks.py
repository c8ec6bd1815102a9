"""Ties-aware ranks in one sort: what the rank- and mass-based samplers share.

For ``values`` (N,), sorted ascending once, tied values form runs (groups). :func:`tie_groups` gives,
for every group, where it starts and ends in the sorted order, and, for every sample, its group, so
any per-group quantity (a mid-rank, a cumulative mass) is computed in O(G) and spread back to the
samples in O(N): no per-sample binary search (``searchsorted`` of N queries costs far more than the
sort on a CPU).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["TieGroups", "descending_mid_ranks", "mid_cumulative", "tie_groups"]


class TieGroups(NamedTuple):
    """``order`` sorts the values ascending; group ``g`` holds the sorted positions
    ``starts[g] .. ends[g]`` (inclusive); ``group[i]`` is the group of sample ``i``."""

    order: Tensor
    starts: Tensor
    ends: Tensor
    group: Tensor


def tie_groups(values: Tensor) -> TieGroups:
    """The runs of equal values of ``values`` (N,) in ascending order (NaN must be removed first)."""
    order = torch.argsort(values)
    _, counts = torch.unique_consecutive(values[order], return_counts=True)
    ends = counts.cumsum(0) - 1
    starts = ends - counts + 1
    group = torch.empty_like(order)
    group[order] = torch.repeat_interleave(torch.arange(counts.numel(), device=values.device), counts)
    return TieGroups(order, starts, ends, group)


def descending_mid_ranks(values: Tensor) -> Tensor:
    """0-based ranks from the largest value, tied values sharing the mean of their ranks::

        rank_i = #{j: v_j > v_i} + (#{j: v_j == v_i} - 1) / 2

    so four equal values all get rank 1.5 and the order of the dataset never breaks a tie. (N,) float64
    """
    g = tie_groups(values)
    n = values.numel()
    # a group at ascending positions [s, e] has n - 1 - e larger values and e - s ties besides itself
    rank = (n - 1 - g.ends).to(torch.float64) + 0.5 * (g.ends - g.starts).to(torch.float64)
    return rank[g.group]


def mid_cumulative(values: Tensor, mass: Tensor) -> Tensor:
    """``(sum_{v_j < v_i} m_j + 0.5 sum_{v_j == v_i} m_j) / sum_j m_j`` for every sample: the mass below
    it plus half the mass of its ties, as a fraction of the whole (float64; the total must be > 0)."""
    g = tie_groups(values)
    prefix = torch.zeros(values.numel() + 1, dtype=torch.float64, device=values.device)
    prefix[1:] = torch.cumsum(mass.to(torch.float64)[g.order], dim=0)
    mid = (prefix[g.starts] + prefix[g.ends + 1]) * 0.5 / prefix[-1]
    return mid.clamp_(0.0, 1.0)[g.group]
