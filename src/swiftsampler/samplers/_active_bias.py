"""p-SGD and c-SGD: importance from the prediction history (Active Bias, as run by Arazo et al.)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ..stats import SampleStats
from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler, uniform_plan
from ._checks import check_int, check_range
from ._draw import draw_without_replacement


def difficulty(stats: SampleStats) -> Tensor:
    """Mean difficulty ``d_i = 1 - mean_t p_t(y_i | x_i)`` over every training visit; unseen samples
    get the largest difficulty seen (Arazo et al.'s code). (N,) float64."""
    d = (1.0 - stats.p_mean).to(torch.float64)
    seen = stats.seen_mask
    top = torch.where(seen, d, torch.zeros_like(d)).max()
    return torch.where(seen, d, top)


class _ActiveBiasSampler(Sampler):
    """Shared plan of p-SGD / c-SGD: score, add a smoothing constant, draw ``round(b N)`` samples
    without replacement with ``P_i ∝ s_i + eps``, visit them in random order, no loss reweighting."""

    score_name: ClassVar[str]

    def __init__(self, num_samples: int, *, epsilon: float | None = None,
                 warmup_epochs: int = 0) -> None:
        super().__init__(num_samples)
        self.epsilon = None if epsilon is None else check_range("epsilon", epsilon, 0, float("inf"))
        self.warmup_epochs = check_int("warmup_epochs", warmup_epochs)

    def scores(self, stats: SampleStats) -> Tensor:
        raise NotImplementedError

    def probabilities(self, stats: SampleStats) -> Tensor:
        """``P_i = (s_i + eps) / sum_j (s_j + eps)``; ``eps = mean(s)`` unless ``epsilon`` is set.
        When every ``s_i + eps`` is 0 (every sample predicted with certainty) the draw is uniform."""
        s = self.scores(stats)
        eps = s.mean() if self.epsilon is None else torch.tensor(self.epsilon, dtype=s.dtype)
        w = s + eps
        total = w.sum()
        return torch.where(total > 0, w / total.clamp_min(torch.finfo(w.dtype).tiny),
                           torch.full_like(w, 1.0 / w.numel()))

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        if info.epoch < self.warmup_epochs or not bool(stats.seen_mask.any()):
            return uniform_plan(self.num_samples, generator, info.n_samples)  # nothing seen yet
        p = self.probabilities(stats).to(generator.device)
        chosen = draw_without_replacement(p, info.n_samples, generator)
        return EpochPlan(chosen[torch.randperm(chosen.numel(), generator=generator,
                                               device=generator.device)])


@SAMPLERS.register("p-sgd")
class PSGDSampler(_ActiveBiasSampler):
    """p-SGD (Arazo et al., BMVC 2021; "sampled by difficulty" in Active Bias, Chang et al. 2017):
    ``s_i = mean_t (1 - p_t(y_i|x_i))``, ``P_i ∝ s_i + mean(s)``, ``round(b N)`` drawn without
    replacement each epoch, no reweighting."""

    def scores(self, stats: SampleStats) -> Tensor:
        return difficulty(stats)


@SAMPLERS.register("c-sgd")
class CSGDSampler(_ActiveBiasSampler):
    """c-SGD (Arazo et al., BMVC 2021; "threshold closeness" in Active Bias, Chang et al. 2017):
    ``s_i = d_i (1 - d_i) = p̄_i (1 - p̄_i)``, highest for samples near the decision threshold;
    ``P_i ∝ s_i + mean(s)``. As in the authors' code, unseen samples get the largest difficulty
    before the transform (which can give them a low score)."""

    def scores(self, stats: SampleStats) -> Tensor:
        d = difficulty(stats)
        return d * (1.0 - d)
