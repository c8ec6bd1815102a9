"""InfoBatch: unbiased dynamic data pruning with rescaling and annealing."""

from __future__ import annotations

import torch

from ..stats import SampleStats
from ._base import SAMPLERS, EpochInfo, EpochPlan, Sampler, uniform_plan
from ._checks import check_range


@SAMPLERS.register("infobatch")
class InfoBatchSampler(Sampler):
    """InfoBatch (Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data
    Pruning", ICLR 2024).

    Each epoch, the seen samples whose latest loss is below the mean are "well learned"; a random
    fraction ``prune_ratio`` (exactly ``round(r n_low)``) of them is dropped for the epoch and the rest
    of that group has its loss scaled by ``1 / (1 - r)``, which keeps the expected total loss. Unseen
    samples are kept with weight 1. Once ``anneal`` of the budget is spent (``delta``, 0.875 in the
    paper) pruning stops and all weights are 1. Under a budget ``b < 1`` the epoch is a uniform
    subset of ``round(b N)`` of the kept samples (the weights keep their meaning); when fewer are
    kept the epoch is shorter and the budget buys more epochs.

    Args:
        prune_ratio: fraction ``r`` of the well-learned samples dropped each epoch.
        anneal: budget progress after which the full data is used.
    """

    def __init__(self, num_samples: int, *, prune_ratio: float = 0.5, anneal: float = 0.875
                 ) -> None:
        super().__init__(num_samples)
        self.prune_ratio = check_range("prune_ratio", prune_ratio, 0.0, 1.0, high_open=True)
        self.anneal = check_range("anneal", anneal, 0.0, 1.0)

    def keep_and_weights(self, stats: SampleStats, generator: torch.Generator
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept indices (sorted) and their loss weights for one epoch. (K,), (K,)"""
        device = generator.device
        loss = stats.loss.to(device)
        seen = stats.seen_mask.to(device)
        mean = loss[seen].mean()
        low = (seen & (loss < mean)).nonzero().squeeze(1)
        n_prune = round(self.prune_ratio * low.numel())
        pruned = low[torch.randperm(low.numel(), generator=generator, device=device)[:n_prune]]
        keep_mask = torch.ones(self.num_samples, dtype=torch.bool, device=device)
        keep_mask[pruned] = False
        weights = torch.ones(self.num_samples, device=device)
        weights[low] = 1.0 / (1.0 - self.prune_ratio)
        kept = keep_mask.nonzero().squeeze(1)
        return kept, weights[kept]

    def plan_epoch(self, stats: SampleStats, generator: torch.Generator,
                   info: EpochInfo) -> EpochPlan:
        if info.progress >= self.anneal or not bool(stats.seen_mask.any()):
            return uniform_plan(self.num_samples, generator, info.n_samples)
        kept, weights = self.keep_and_weights(stats, generator)
        order = torch.randperm(kept.numel(), generator=generator, device=generator.device)
        order = order[: info.n_samples]
        return EpochPlan(kept[order], weights[order])
