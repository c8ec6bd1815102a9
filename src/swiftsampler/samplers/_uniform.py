"""Uniform sampling under a budget."""

from __future__ import annotations

import torch

from ..stats import SampleStats
from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler, uniform_plan


@SAMPLERS.register("uniform")
class UniformSampler(Sampler):
    """Each epoch, a fresh uniformly random subset of ``round(b N)`` distinct samples, in random order.

    This is ``unif-SGD`` of Arazo et al. (BMVC 2021): across epochs every sample is used about ``b E``
    times, which keeps the variety high. At budget 1 it is an ordinary shuffled epoch.
    """

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        return uniform_plan(self.num_samples, generator, info.n_samples)
