"""Online batch selection: rank-based sampling with exponential selection pressure."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..stats import SampleStats
from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler
from ._checks import check_int, check_range
from ._draw import draw_with_replacement
from ._ranks import descending_mid_ranks


def rank_probabilities(losses: Tensor, pressure: float) -> Tensor:
    """``P_i ∝ exp(-log(s) rank_i / N)`` with rank 0 for the largest loss, so the top-ranked sample is
    ``s`` times more likely than the last one (Loshchilov & Hutter 2015). Ties share the mean of their
    ranks (:func:`descending_mid_ranks`); NaN losses (unseen samples) rank first, together, so an
    epoch before any loss is known is uniform. (N,) float64."""
    ranks = descending_mid_ranks(losses.to(torch.float64).nan_to_num(torch.inf))
    w = torch.exp(-math.log(pressure) * ranks / losses.numel())
    return w / w.sum()


@SAMPLERS.register("online-batch-selection")
class OnlineBatchSelectionSampler(Sampler):
    """Online batch selection (Loshchilov & Hutter, 2015).

    Samples are ranked by their latest loss (rank 0 = largest) and drawn with replacement with
    ``P_i ∝ exp(-log(s_e) rank_i / N)``. The selection pressure ``s_e`` moves geometrically from
    ``pressure`` to ``pressure_end`` over the budget. Losses are those recorded in training; with
    ``rescore_every = k`` the engine refreshes all of them with a forward pass over the training set
    (charged to the budget) every ``k`` epochs, as in the paper.

    Args:
        pressure: ratio of the most to the least likely sample at the start (100 in the paper).
        pressure_end: the ratio at the end of the budget; None keeps ``pressure``.
        rescore_every: epochs between full re-scoring passes (0: never).
    """

    def __init__(self, num_samples: int, *, pressure: float = 100.0,
                 pressure_end: float | None = None, rescore_every: int = 0) -> None:
        super().__init__(num_samples)
        self.pressure = check_range("pressure", pressure, 1.0, 1e12)
        self.pressure_end = (self.pressure if pressure_end is None
                             else check_range("pressure_end", pressure_end, 1.0, 1e12))
        self.rescore_every = check_int("rescore_every", rescore_every)

    def pressure_at(self, progress: float) -> float:
        return self.pressure * (self.pressure_end / self.pressure) ** progress

    def wants_scoring_pass(self, info: EpochInfo) -> bool:
        return self.rescore_every > 0 and info.epoch > 0 and info.epoch % self.rescore_every == 0

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        p = rank_probabilities(stats.loss, self.pressure_at(info.progress)).to(generator.device)
        return EpochPlan(draw_with_replacement(p, info.n_samples, generator))
