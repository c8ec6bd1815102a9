"""Ties-aware ranks in one sort: what the rank- and mass-based samplers share.

For ``values`` (N,), sorted ascending once, tied values form runs. :func:`tie_runs` gives, for every
position of the sorted order, where its run starts and ends (two scans over the sorted values, no
per-group tables), so any per-run quantity (a mid-rank, a cumulative mass) is computed at every
sorted position in O(N) and scattered back to the samples once: no per-sample binary search
(``searchsorted`` of N queries costs far more than the sort on a CPU).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ._sort import sort_values

__all__ = ["TieRuns", "descending_mid_ranks", "mid_cumulative", "tie_runs"]


class TieRuns(NamedTuple):
    """``order`` sorts the values ascending; the value at sorted position ``k`` belongs to the run of
    equal values at sorted positions ``starts[k] .. ends[k]`` (inclusive)."""

    order: Tensor
    starts: Tensor
    ends: Tensor


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
